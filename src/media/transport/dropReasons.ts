import { RTP_PARSE_ERROR_NAMES } from '../rtp/RtpPacket.ts';

/**
 * Why a received packet was dropped. Indexes into a Uint32Array of counters per endpoint, so
 * the receive path counts without strings; names are produced only when stats are read.
 * The first entries are RtpPacket.validate() codes (malformed packets).
 */
export const Drop = {
  SOURCE_MISMATCH: RTP_PARSE_ERROR_NAMES.length,
  UNKNOWN_PAYLOAD_TYPE: RTP_PARSE_ERROR_NAMES.length + 1,
  NOT_RECEIVING: RTP_PARSE_ERROR_NAMES.length + 2,
  NOT_CONFIGURED: RTP_PARSE_ERROR_NAMES.length + 3,
  MALFORMED_RTCP: RTP_PARSE_ERROR_NAMES.length + 4,
  TRANSCODE_FAILED: RTP_PARSE_ERROR_NAMES.length + 5,
  /** An engine's packet handler threw: the packet is dropped, the worker lives on. */
  HANDLER_ERROR: RTP_PARSE_ERROR_NAMES.length + 6,
  /** From a source that had not (yet) passed latching probation (a learning candidate). */
  UNLATCHED_SOURCE: RTP_PARSE_ERROR_NAMES.length + 7,
  /** Bound for the other worker of a cross-worker bridge, whose ring was full (it fell behind). */
  BRIDGE_RING_FULL: RTP_PARSE_ERROR_NAMES.length + 8,
} as const;

export const DROP_REASON_NAMES: readonly string[] = [
  ...RTP_PARSE_ERROR_NAMES.map((n) => (n === 'ok' ? 'ok' : `malformed_${n}`)),
  'source_mismatch',
  'unknown_payload_type',
  'not_receiving',
  'not_configured',
  'malformed_rtcp',
  'transcode_failed',
  'handler_error',
  'unlatched_source',
  'bridge_ring_full',
];

/** Non-zero counters as a name → count record (read path only). */
export function dropsToRecord(counters: Uint32Array, into: Record<string, number> = {}): Record<string, number> {
  for (let i = 1; i < counters.length; i++) {
    const n = counters[i]!;
    if (n > 0) {
      const name = DROP_REASON_NAMES[i]!;
      into[name] = (into[name] ?? 0) + n;
    }
  }
  return into;
}
