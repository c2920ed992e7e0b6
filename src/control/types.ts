/**
 * Public shapes of the control plane, shared by the API layer (REST, WebSocket, gRPC) and the
 * MediaServer facade. Snake_case because they are the wire contract (DESIGN.md).
 */
import type { Direction } from '../protocol/endpoint.ts';

export type { Direction };

export interface EndpointStats {
  packets_received: number;
  packets_sent: number;
  bytes_received: number;
  bytes_sent: number;
  packets_lost: number;
  /** Fraction lost over the last report interval, 0..1. */
  fraction_lost: number;
  jitter_ms: number;
  /** Round-trip time from RTCP LSR/DLSR; null until the peer reports. */
  rtt_ms: number | null;
  /** E-model estimate (1..4.5) from our own loss/jitter, RTCP or not. */
  mos: number;
  /** Packets dropped on receive, by reason (malformed, source_mismatch, unknown_payload_type, ...). */
  dropped: Record<string, number>;
  /** The decoding path's adaptive jitter buffer; null while nothing decodes this endpoint. */
  jitter_buffer?: {
    delay_ms: number;
    late: number;
    lost: number;
    concealed: number;
    duplicates: number;
    discarded: number;
  } | null;
}

export interface CodecDescription {
  name: string;
  payload_type: number;
  clock_rate: number;
  channels: number;
  ptime: number;
}

export interface EndpointInfo {
  id: string;
  state: 'offered' | 'active' | 'closed';
  ip: string;
  rtp_port: number;
  rtcp_port: number;
  rtcp_mux: boolean;
  /** Our SDP: the answer when the caller's SDP was given, else our offer. */
  sdp: string;
  direction: Direction;
  codec: CodecDescription | null;
  telephone_event: { payload_type: number; clock_rate: number } | null;
  remote: { ip: string; rtp_port: number; rtcp_port: number } | null;
  affinity: string | null;
  worker: number;
  bridge_id: string | null;
  created_at: string;
  stats: EndpointStats;
}

/**
 * DTMF options of an endpoint. `inband`: true listens for in-band DTMF always (a B2BUA reading
 * `endpoint.dtmf` from the event stream for a peer without telephone-event), false never, null
 * back to DTMF_INBAND's default (with 'auto': only while a flow, barge-in, terminate_on or a
 * converting bridge consumes the digits).
 */
export interface EndpointDtmfOptions {
  inband?: boolean | null;
}

export interface CreateEndpointRequest {
  remote_sdp?: string;
  codecs?: string[];
  affinity?: string;
  direction?: Direction;
  dtmf?: EndpointDtmfOptions;
}

export interface UpdateEndpointRequest {
  remote_sdp?: string;
  direction?: Direction;
  dtmf?: EndpointDtmfOptions;
}

export interface BridgeInfo {
  id: string;
  endpoint_a: string;
  endpoint_b: string;
  /** relay: packets forwarded untouched but for the header; transcode: payload converted. */
  mode: 'relay' | 'transcode';
  cross_worker: boolean;
  created_at: string;
}

export interface CreateBridgeRequest {
  endpoint_a: string;
  endpoint_b: string;
}

/** An event on the bus: `seq` strictly increasing, `type` dotted, payload fields flat. */
export interface ServerEvent {
  seq: number;
  type: string;
  time: string;
  [field: string]: unknown;
}
