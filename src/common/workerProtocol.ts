import type { MessagePort } from 'node:worker_threads';
/**
 * The typed channel between the control plane (main thread) and a media worker.
 * Requests carry an id and get exactly one response; notifications flow worker -> control.
 * Only plain data crosses (structured clone), plus MessagePorts for cross-worker bridges.
 */
import type { SerializedError } from './errors.ts';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Upper bound of RTP_LATCH_PACKETS: an endpoint holds at most this many - 1 packets on probation. */
export const MAX_LATCH_PACKETS = 16;

export interface MediaCodecConfig {
  name: string;
  payloadType: number;
  clockRate: number;
  channels: number;
  ptime: number;
  fmtp: Record<string, string>;
}

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
  jitterBuffer: { delayMs: number; late: number; lost: number; concealed: number; duplicates: number; discarded: number } | null;
}

export interface WorkerMetrics {
  workerIndex: number;
  endpoints: number;
  bridges: number;
  packetsReceived: number;
  packetsSent: number;
  packetsRelayed: number;
  packetsLost: number;
  dropped: Record<string, number>;
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Per-engine counters (playback, recording, dtmf, conference). */
  engines?: Record<string, Record<string, number>>;
  /** Media clock tick lateness since the previous metrics request. */
  clock?: { ticks: number; lateMaxMs: number; lateP50Ms?: number; lateP99Ms?: number };
}

export interface WorkerRequests {
  /** latchPackets: RTP_LATCH_PACKETS, 1..MAX_LATCH_PACKETS. */
  'endpoint.create': { params: { id: string; ip: string; rtpPort: number; rtcpPort: number; mediaTimeoutMs: number; cname: string; strictSource?: boolean; latchPackets?: number }; result: { ok: true } };
  'endpoint.configure': { params: { id: string; media: EndpointMediaConfig }; result: { ok: true } };
  'endpoint.close': { params: { id: string }; result: { ok: true } };
  'endpoint.stats': { params: { id: string }; result: WorkerEndpointStats };
  'endpoint.statsAll': { params: Record<string, never>; result: Record<string, WorkerEndpointStats> };
  /** Both legs live on this worker. */
  'bridge.create': { params: { id: string; a: string; b: string }; result: { mode: 'relay' | 'transcode' } };
  /** One leg lives here, the other on another worker reached through `port`. */
  'bridge.createRemote': {
    params: { id: string; local: string; port: MessagePort; peerMedia: EndpointMediaConfig };
    result: { mode: 'relay' | 'transcode' };
  };
  /** The remote leg of a cross-worker bridge renegotiated its media. */
  'bridge.updatePeer': { params: { id: string; peerMedia: EndpointMediaConfig }; result: { ok: true } };
  'bridge.delete': { params: { id: string }; result: { ok: true } };
  'worker.metrics': { params: Record<string, never>; result: WorkerMetrics };
  /** Lets the engines finish (recordings finalised) before the worker is terminated. */
  'worker.shutdown': { params: Record<string, never>; result: { ok: true } };
  /** Test hook: makes the worker throw from its event loop (worker death handling). */
  'worker.crash': { params: Record<string, never>; result: { ok: true } };
}

export type WorkerMethod = keyof WorkerRequests;

export interface WorkerNotifications {
  'endpoint.media_timeout': { id: string; lastPacketAgoMs: number };
  'endpoint.remote_latched': { id: string; ip: string; port: number; kind: 'rtp' | 'rtcp' };
  'endpoint.rtcp_bye': { id: string; ssrc: number; reason: string | null };
  'worker.error': { message: string };
}

export type NotificationType = keyof WorkerNotifications;

export type ToWorker = { t: 'req'; id: number; method: WorkerMethod; params: unknown } | { t: 'close' };

export type FromWorker =
  | { t: 'res'; id: number; ok: true; result: unknown }
  | { t: 'res'; id: number; ok: false; error: SerializedError }
  | { t: 'note'; type: NotificationType; payload: unknown }
  | { t: 'ready'; index: number };
