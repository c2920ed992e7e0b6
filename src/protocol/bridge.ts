/** `bridge.*`: two endpoints relaying (or transcoding) to each other, on one worker or across two. */
import type { MessagePort } from 'node:worker_threads';
import type { EndpointMediaConfig } from './endpoint.ts';

export type BridgeMode = 'relay' | 'transcode';

export interface BridgeRequests {
  /** Both legs live on this worker. */
  'bridge.create': { params: { id: string; a: string; b: string }; result: { mode: BridgeMode } };
  /** One leg lives here, the other on another worker reached through `port`. */
  'bridge.createRemote': {
    params: { id: string; local: string; port: MessagePort; peerMedia: EndpointMediaConfig };
    result: { mode: BridgeMode };
  };
  /** The remote leg of a cross-worker bridge renegotiated its media. */
  'bridge.updatePeer': { params: { id: string; peerMedia: EndpointMediaConfig }; result: { ok: true } };
  'bridge.delete': { params: { id: string }; result: { ok: true } };
}

// Bridges report nothing on their own: their life is driven by the control plane.
export type BridgeNotifications = Record<never, never>;
