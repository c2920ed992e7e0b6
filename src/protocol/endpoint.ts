/** `endpoint.*`: an RTP endpoint (its sockets, RTCP, media timeout) on a media worker. */
import type { MediaCodecConfig } from './codecs.ts';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * Upper bound of RTP_LATCH_PACKETS: an endpoint holds at most this many - 1 packets on
 * probation. (The contract's one value: both planes bound the same setting by it.)
 */
export const MAX_LATCH_PACKETS = 16;

/** What SDP negotiation decided for one endpoint; applied to the worker's endpoint. */
export interface EndpointMediaConfig {
  remote: { ip: string; rtpPort: number; rtcpPort: number } | null;
  rtcpMux: boolean;
  codec: MediaCodecConfig;
  /** RFC 4733 events; their clock may differ from the codec's (telephone-event/8000 with Opus). */
  telephoneEvent: { payloadType: number; clockRate: number } | null;
  /** RFC 3389 comfort noise, at the codec's clock; absent or null when not negotiated. */
  comfortNoise?: { payloadType: number; clockRate: number } | null;
  direction: Direction;
}

export interface WorkerEndpointStats {
  packetsReceived: number;
  packetsSent: number;
  bytesReceived: number;
  bytesSent: number;
  packetsLost: number;
  fractionLost: number;
  jitterMs: number;
  rttMs: number | null;
  mos: number;
  dropped: Record<string, number>;
  remote: { ip: string; rtpPort: number; rtcpPort: number } | null;
  jitterBuffer: {
    delayMs: number;
    late: number;
    lost: number;
    concealed: number;
    duplicates: number;
    discarded: number;
  } | null;
}

export interface EndpointCreateParams {
  id: string;
  ip: string;
  rtpPort: number;
  rtcpPort: number;
  mediaTimeoutMs: number;
  cname: string;
  strictSource?: boolean;
  /** RTP_LATCH_PACKETS, 1..MAX_LATCH_PACKETS. */
  latchPackets?: number;
}

export interface EndpointRequests {
  /** `sender`: the leg's outbound stream state (RtpSender.block), for a cross-worker bridge's relay offload. */
  'endpoint.create': { params: EndpointCreateParams; result: { ok: true; sender?: SharedArrayBuffer } };
  'endpoint.configure': { params: { id: string; media: EndpointMediaConfig }; result: { ok: true } };
  'endpoint.close': { params: { id: string }; result: { ok: true } };
  'endpoint.stats': { params: { id: string }; result: WorkerEndpointStats };
  'endpoint.statsAll': { params: Record<string, never>; result: Record<string, WorkerEndpointStats> };
}

export interface EndpointNotifications {
  'endpoint.media_timeout': { id: string; lastPacketAgoMs: number };
  'endpoint.remote_latched': { id: string; ip: string; port: number; kind: 'rtp' | 'rtcp' };
  'endpoint.rtcp_bye': { id: string; ssrc: number; reason: string | null };
}
