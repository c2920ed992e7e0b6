/**
 * The codec catalogue's shapes: what SDP negotiation (control plane) and the codec factories
 * (media plane) agree a codec is, and the codec an endpoint was configured with.
 */

/** Static description used by SDP negotiation and codec factories. */
export interface CodecInfo {
  name: string;
  /** Static payload type (RFC 3551) or undefined for dynamic ones. */
  staticPayloadType?: number;
  clockRate: number;
  sampleRate: number;
  /** Channel count as written in rtpmap (opus/48000/2). */
  rtpmapChannels?: number;
}

/** The codec SDP negotiation chose for one endpoint, as the worker applies it. */
export interface MediaCodecConfig {
  name: string;
  payloadType: number;
  clockRate: number;
  channels: number;
  ptime: number;
  fmtp: Record<string, string>;
}
