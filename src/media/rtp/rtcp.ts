/**
 * RTCP compound packets (RFC 3550 section 6): parsing with the validity checks of appendix A.2,
 * and the rtcp-mux demultiplexing test of RFC 5761 section 4. Writers are in rtcpWriter.ts.
 *
 * Common header of every RTCP packet (6.4.1):
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |      PT       |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * length = size in 32-bit words minus one, header and padding included.
 *
 * RTCP arrives once every few seconds per stream, so parsing builds plain objects; only the
 * demux test `isRtcp()` sits on the per-packet path.
 */

export const RtcpType = {
  SR: 200,
  RR: 201,
  SDES: 202,
  BYE: 203,
  APP: 204,
} as const;

/** SDES item types (RFC 3550 6.5). */
export const SdesItemType = {
  END: 0,
  CNAME: 1,
  NAME: 2,
  EMAIL: 3,
  PHONE: 4,
  LOC: 5,
  TOOL: 6,
  NOTE: 7,
  PRIV: 8,
} as const;

/** Why `parseRtcp()` rejected a compound packet; counted by code like `RtpParseError`. */
export const RtcpParseError = {
  /** offset/length outside the buffer. */
  BAD_BOUNDS: 1,
  /** shorter than one 4-byte header, or a packet header cut off at the end. */
  TOO_SHORT: 2,
  /** a packet whose version field is not 2. */
  BAD_VERSION: 3,
  /** the first packet is not SR or RR (A.2: "the first packet must be SR or RR"). */
  FIRST_NOT_REPORT: 4,
  /** a packet's length field runs past the end, so the lengths do not add up to the datagram. */
  LENGTH_MISMATCH: 5,
  /** P set on a packet that is not the last one of the compound (6.4.1, A.2). */
  PADDING_NOT_LAST: 6,
  /** padding count 0, or larger than the packet after its header. */
  BAD_PADDING: 7,
  /** SR/RR whose report count (RC) blocks do not fit in its length. */
  REPORT_OVERFLOW: 8,
  /** SDES chunks or items that run past the packet. */
  SDES_MALFORMED: 9,
  /** BYE source list or reason that runs past the packet. */
  BYE_MALFORMED: 10,
} as const;

export type RtcpParseErrorCode = (typeof RtcpParseError)[keyof typeof RtcpParseError];

export const RTCP_PARSE_ERROR_NAMES: readonly string[] = [
  'ok',
  'bad_bounds',
  'too_short',
  'bad_version',
  'first_not_report',
  'length_mismatch',
  'padding_not_last',
  'bad_padding',
  'report_overflow',
  'sdes_malformed',
  'bye_malformed',
];

/** One reception report block (RFC 3550 6.4.1), same shape for SR and RR. */
export interface ReportBlock {
  /** SSRC of the source this block reports on. */
  ssrc: number;
  /** Packets lost since the previous report, as a fraction of 256 (0..255). */
  fractionLost: number;
  /** Cumulative lost, signed 24 bits: negative when duplicates outnumber losses. */
  cumulativeLost: number;
  /** Cycles (upper 16 bits) and highest sequence number received. */
  extendedHighestSeq: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from that source; 0 if none. */
  lsr: number;
  /** Delay since that SR in 1/65536 s; 0 if none. */
  dlsr: number;
}

export interface RtcpSenderReport {
  kind: 'sr';
  ssrc: number;
  ntpMsw: number;
  ntpLsw: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlock[];
}

export interface RtcpReceiverReport {
  kind: 'rr';
  ssrc: number;
  reports: ReportBlock[];
}

export interface SdesItem {
  type: number;
  value: string;
}

export interface SdesChunk {
  ssrc: number;
  items: SdesItem[];
}

export interface RtcpSdes {
  kind: 'sdes';
  chunks: SdesChunk[];
}

export interface RtcpBye {
  kind: 'bye';
  ssrcs: number[];
  reason?: string;
}

/** APP, feedback (RFC 4585), XR and anything else: recognised as a packet, not decoded. */
export interface RtcpOther {
  kind: 'other';
  packetType: number;
  /** Bytes of the whole packet, header included. */
  length: number;
}

export type RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSdes | RtcpBye | RtcpOther;

export type RtcpParseResult = { error: 0; packets: RtcpPacket[] } | { error: RtcpParseErrorCode; packets: null };

/**
 * rtcp-mux demultiplexing (RFC 5761 section 4): with RTP and RTCP on one port, a second octet in
 * 192..223 is RTCP (PT 200..204 and the feedback types), since RTP payload types 64..95 with the
 * marker bit would collide and are not to be used. Allocation-free, for the per-packet path.
 */
export function isRtcp(buf: Uint8Array, offset = 0, length: number = buf.length - offset): boolean {
  if (length < 2 || offset < 0 || offset + 2 > buf.length) return false;
  const pt = buf[offset + 1]!;
  return pt >= 192 && pt <= 223;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Report block at `o` (24 bytes); cumulative lost sign-extended from 24 bits. */
function readReportBlock(b: Uint8Array, o: number): ReportBlock {
  return {
    ssrc: readU32(b, o),
    fractionLost: b[o + 4]!,
    cumulativeLost: ((b[o + 5]! << 24) | (b[o + 6]! << 16) | (b[o + 7]! << 8)) >> 8,
    extendedHighestSeq: readU32(b, o + 8),
    jitter: readU32(b, o + 12),
    lsr: readU32(b, o + 16),
    dlsr: readU32(b, o + 20),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Parse a compound RTCP packet. The whole datagram is rejected when any check of RFC 3550 A.2
 * fails (version 2 everywhere, first packet SR or RR, lengths add up exactly to the datagram,
 * padding only on the last packet), or when a packet's own body does not fit its length.
 * Deviation from the A.2 sample code: P is accepted on the first packet when it is also the last,
 * as the text of 6.4.1 allows padding on the last packet. Never throws.
 */
export function parseRtcp(buf: Uint8Array, offset = 0, length: number = buf.length - offset): RtcpParseResult {
  if (!(offset >= 0 && length >= 0 && offset + length <= buf.length)) return fail(RtcpParseError.BAD_BOUNDS);
  if (length < 4) return fail(RtcpParseError.TOO_SHORT);
  const first = buf[offset + 1]!;
  if (buf[offset]! >>> 6 === 2 && first !== RtcpType.SR && first !== RtcpType.RR) {
    return fail(RtcpParseError.FIRST_NOT_REPORT);
  }
  const end = offset + length;
  const packets: RtcpPacket[] = [];
  let p = offset;
  while (p < end) {
    if (p + 4 > end) return fail(RtcpParseError.TOO_SHORT);
    const b0 = buf[p]!;
    if (b0 >>> 6 !== 2) return fail(RtcpParseError.BAD_VERSION);
    const pt = buf[p + 1]!;
    const size = (((buf[p + 2]! << 8) | buf[p + 3]!) + 1) * 4;
    if (p + size > end) return fail(RtcpParseError.LENGTH_MISMATCH);
    let bodyEnd = p + size;
    if ((b0 & 0x20) !== 0) {
      if (p + size !== end) return fail(RtcpParseError.PADDING_NOT_LAST);
      const pad = buf[p + size - 1]!;
      if (pad === 0 || pad > size - 4) return fail(RtcpParseError.BAD_PADDING);
      bodyEnd -= pad;
    }
    const count = b0 & 0x1f;
    const r = parseOne(buf, p, bodyEnd, pt, count, size);
    if (typeof r === 'number') return fail(r);
    packets.push(r);
    p += size;
  }
  return { error: 0, packets };
}

function fail(error: RtcpParseErrorCode): RtcpParseResult {
  return { error, packets: null };
}

function parseOne(
  b: Uint8Array,
  p: number,
  end: number,
  pt: number,
  count: number,
  size: number,
): RtcpPacket | RtcpParseErrorCode {
  switch (pt) {
    case RtcpType.SR: {
      // Bytes after the report blocks are profile-specific extensions (6.4.1): allowed, skipped.
      if (p + 28 + count * 24 > end) return RtcpParseError.REPORT_OVERFLOW;
      const reports: ReportBlock[] = [];
      for (let i = 0; i < count; i++) reports.push(readReportBlock(b, p + 28 + i * 24));
      return {
        kind: 'sr',
        ssrc: readU32(b, p + 4),
        ntpMsw: readU32(b, p + 8),
        ntpLsw: readU32(b, p + 12),
        rtpTimestamp: readU32(b, p + 16),
        packetCount: readU32(b, p + 20),
        octetCount: readU32(b, p + 24),
        reports,
      };
    }
    case RtcpType.RR: {
      if (p + 8 + count * 24 > end) return RtcpParseError.REPORT_OVERFLOW;
      const reports: ReportBlock[] = [];
      for (let i = 0; i < count; i++) reports.push(readReportBlock(b, p + 8 + i * 24));
      return { kind: 'rr', ssrc: readU32(b, p + 4), reports };
    }
    case RtcpType.SDES:
      return parseSdes(b, p, end, count);
    case RtcpType.BYE: {
      let o = p + 4;
      if (o + count * 4 > end) return RtcpParseError.BYE_MALFORMED;
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++, o += 4) ssrcs.push(readU32(b, o));
      if (o < end) {
        const n = b[o]!;
        if (o + 1 + n > end) return RtcpParseError.BYE_MALFORMED;
        return { kind: 'bye', ssrcs, reason: utf8.decode(b.subarray(o + 1, o + 1 + n)) };
      }
      return { kind: 'bye', ssrcs };
    }
    default:
      return { kind: 'other', packetType: pt, length: size };
  }
}

/** SDES (6.5): SC chunks of SSRC + items, each chunk ended by a null octet and 32-bit aligned. */
function parseSdes(b: Uint8Array, p: number, end: number, count: number): RtcpSdes | RtcpParseErrorCode {
  const chunks: SdesChunk[] = [];
  let o = p + 4;
  for (let c = 0; c < count; c++) {
    if (o + 4 > end) return RtcpParseError.SDES_MALFORMED;
    const chunk: SdesChunk = { ssrc: readU32(b, o), items: [] };
    o += 4;
    for (;;) {
      if (o >= end) return RtcpParseError.SDES_MALFORMED;
      const type = b[o]!;
      if (type === SdesItemType.END) {
        // Null octets up to the next 32-bit boundary (counted from the packet start).
        o += 4 - ((o - p) & 3);
        if (o > end) return RtcpParseError.SDES_MALFORMED;
        break;
      }
      if (o + 2 > end) return RtcpParseError.SDES_MALFORMED;
      const n = b[o + 1]!;
      if (o + 2 + n > end) return RtcpParseError.SDES_MALFORMED;
      chunk.items.push({ type, value: utf8.decode(b.subarray(o + 2, o + 2 + n)) });
      o += 2 + n;
    }
    chunks.push(chunk);
  }
  return { kind: 'sdes', chunks };
}

/** The CNAME of the first SDES chunk for `ssrc` in a parsed compound, if any. */
export function findCname(packets: readonly RtcpPacket[], ssrc: number): string | undefined {
  for (const pkt of packets) {
    if (pkt.kind !== 'sdes') continue;
    for (const chunk of pkt.chunks) {
      if (chunk.ssrc !== ssrc) continue;
      for (const item of chunk.items) if (item.type === SdesItemType.CNAME) return item.value;
    }
  }
  return undefined;
}
