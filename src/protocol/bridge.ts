/** `bridge.*`: two endpoints relaying (or transcoding) to each other, on one worker or across two. */
import type { EndpointMediaConfig } from './endpoint.ts';

/** Bytes of each direction's ring of a cross-worker bridge (SpscRing data area; ~85 PCMU packets). */
export const BRIDGE_RING_BYTES = 16384;

export type BridgeMode = 'relay' | 'transcode';

export interface BridgeRequests {
  /** Both legs live on this worker. */
  'bridge.create': { params: { id: string; a: string; b: string }; result: { mode: BridgeMode } };
  /**
   * One leg lives here, the other on another worker. Packets cross in two SpscRings: this
   * worker pushes into `tx` and rings `peerBell` (the other worker's Doorbell); it drains `rx`
   * when its own `bell` rings. Every ring of one consumer worker shares that worker's bell.
   */
  'bridge.createRemote': {
    params: {
      id: string;
      local: string;
      peerMedia: EndpointMediaConfig;
      /** The other leg's sender block (null: unknown): the relay offload writes into its stream from here. */
      peerSender?: SharedArrayBuffer | null;
      tx: SharedArrayBuffer;
      rx: SharedArrayBuffer;
      bell: SharedArrayBuffer;
      peerBell: SharedArrayBuffer;
    };
    result: { mode: BridgeMode };
  };
  /** The remote leg of a cross-worker bridge renegotiated its media. */
  'bridge.updatePeer': { params: { id: string; peerMedia: EndpointMediaConfig }; result: { ok: true } };
  'bridge.delete': { params: { id: string }; result: { ok: true } };
}

// Bridges report nothing on their own: their life is driven by the control plane.
export type BridgeNotifications = Record<never, never>;
