import type { CodecInfo } from '../../protocol/codecs.ts';

export type { CodecInfo };
/**
 * A codec turns 20 ms (or ptime) frames of PCM16 at `sampleRate` into RTP payloads and back.
 * Implementations are pure (no sockets, no timers) and allocate nothing per call: callers pass
 * preallocated output buffers and get the number of bytes / samples written.
 */
export interface Codec {
  /** SDP encoding name as in rtpmap, lower case: 'pcmu', 'pcma', 'g722', 'opus', 'l16'. */
  readonly name: string;
  /** RTP clock rate advertised in SDP (G.722: 8000 although it samples at 16000, RFC 3551 4.5.2). */
  readonly clockRate: number;
  /** Rate of the PCM this codec consumes and produces. */
  readonly sampleRate: number;
  /** Channels of the PCM (1 for telephony; Opus is negotiated as /2 in SDP but we send mono). */
  readonly channels: number;
  /** Encode `pcm` (one frame) into `out`; returns bytes written. */
  encode(pcm: Int16Array, out: Uint8Array): number;
  /** Decode `payload` into `out`; returns samples written. */
  decode(payload: Uint8Array, out: Int16Array): number;
  /** Packet loss concealment: fill `out` with `samples` of concealment audio; returns samples. */
  conceal?(out: Int16Array, samples: number): number;
  /** Release native/WASM state. Idempotent. */
  close?(): void;
}
