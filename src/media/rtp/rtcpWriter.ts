/**
 * RTCP writers (RFC 3550 6.4.1 SR, 6.4.2 RR, 6.5 SDES, 6.6 BYE) into a buffer the caller owns,
 * rtp.js style: each returns the number of bytes written at `offset`. A buffer too small is a
 * caller bug and throws RangeError; nothing here ever sees network input.
 *
 * SR:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |   PT=SR=200   |             length            |
 * |                         SSRC of sender                        |
 * |              NTP timestamp, most significant word             |
 * |             NTP timestamp, least significant word             |
 * |                         RTP timestamp                         |
 * |                     sender's packet count                     |
 * |                      sender's octet count                     |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 SSRC_1 (SSRC of first source)                 |
 * | fraction lost |       cumulative number of packets lost       |
 * |           extended highest sequence number received           |
 * |                      interarrival jitter                      |
 * |                         last SR (LSR)                         |
 * |                   delay since last SR (DLSR)                  |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * RR is the same without the five sender-info words.
 */
import { RtcpType, SdesItemType, type ReportBlock } from './rtcp.ts';

/** RC is 5 bits (6.4.1); further blocks go into extra RR packets (6.4.2). */
export const MAX_REPORT_BLOCKS = 31;

/** Sender information of an SR (6.4.1). */
export interface SenderInfo {
  ntpMsw: number;
  ntpLsw: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export interface SenderReportInit extends SenderInfo {
  ssrc: number;
  reports: readonly ReportBlock[];
}

export interface ReceiverReportInit {
  ssrc: number;
  reports: readonly ReportBlock[];
}

const utf8 = new TextEncoder();

function need(out: Uint8Array, offset: number, bytes: number, what: string): void {
  if (offset < 0 || offset + bytes > out.length) {
    throw new RangeError(`${what} needs ${bytes} bytes at offset ${offset}, buffer has ${out.length}`);
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function writeHeader(b: Uint8Array, o: number, count: number, pt: number, bytes: number): void {
  b[o] = 0x80 | (count & 0x1f);
  b[o + 1] = pt;
  const words = bytes / 4 - 1;
  b[o + 2] = (words >>> 8) & 0xff;
  b[o + 3] = words & 0xff;
}

/** Cumulative lost saturates at the signed 24-bit range (RFC 3550 A.3 clamps the same way). */
function clampLost(n: number): number {
  if (n > 0x7fffff) return 0x7fffff;
  if (n < -0x800000) return -0x800000;
  return n;
}

function writeReportBlock(b: Uint8Array, o: number, r: ReportBlock): void {
  writeU32(b, o, r.ssrc);
  const lost = clampLost(Math.trunc(r.cumulativeLost)) & 0xffffff;
  writeU32(b, o + 4, ((r.fractionLost & 0xff) << 24) | lost);
  writeU32(b, o + 8, r.extendedHighestSeq);
  writeU32(b, o + 12, r.jitter);
  writeU32(b, o + 16, r.lsr);
  writeU32(b, o + 20, r.dlsr);
}

function checkCount(reports: readonly ReportBlock[]): void {
  if (reports.length > MAX_REPORT_BLOCKS) {
    throw new RangeError(`${reports.length} report blocks, at most ${MAX_REPORT_BLOCKS} fit in one SR/RR`);
  }
}

/** SR with up to 31 report blocks. */
export function serializeSenderReport(out: Uint8Array, offset: number, sr: SenderReportInit): number {
  checkCount(sr.reports);
  const bytes = 28 + sr.reports.length * 24;
  need(out, offset, bytes, 'SR');
  writeHeader(out, offset, sr.reports.length, RtcpType.SR, bytes);
  writeU32(out, offset + 4, sr.ssrc);
  writeU32(out, offset + 8, sr.ntpMsw);
  writeU32(out, offset + 12, sr.ntpLsw);
  writeU32(out, offset + 16, sr.rtpTimestamp);
  writeU32(out, offset + 20, sr.packetCount);
  writeU32(out, offset + 24, sr.octetCount);
  for (let i = 0; i < sr.reports.length; i++) writeReportBlock(out, offset + 28 + i * 24, sr.reports[i]!);
  return bytes;
}

/** RR with up to 31 report blocks (an empty RR is the minimal compound head, 6.1). */
export function serializeReceiverReport(out: Uint8Array, offset: number, rr: ReceiverReportInit): number {
  checkCount(rr.reports);
  const bytes = 8 + rr.reports.length * 24;
  need(out, offset, bytes, 'RR');
  writeHeader(out, offset, rr.reports.length, RtcpType.RR, bytes);
  writeU32(out, offset + 4, rr.ssrc);
  for (let i = 0; i < rr.reports.length; i++) writeReportBlock(out, offset + 8 + i * 24, rr.reports[i]!);
  return bytes;
}

function toBytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? utf8.encode(s) : s;
}

/**
 * SDES with one chunk holding one CNAME item (6.5.1). The item list ends with a null octet and
 * the chunk is padded with nulls to 32 bits (at least one null, 6.5). Pass the CNAME as bytes to
 * avoid re-encoding it every interval.
 */
export function serializeSdes(out: Uint8Array, offset: number, ssrc: number, cname: string | Uint8Array): number {
  const text = toBytes(cname);
  if (text.length > 255) throw new RangeError(`CNAME of ${text.length} bytes, at most 255`);
  const itemsEnd = 8 + 2 + text.length;
  const bytes = (itemsEnd + 4) & ~3;
  need(out, offset, bytes, 'SDES');
  writeHeader(out, offset, 1, RtcpType.SDES, bytes);
  writeU32(out, offset + 4, ssrc);
  out[offset + 8] = SdesItemType.CNAME;
  out[offset + 9] = text.length;
  out.set(text, offset + 10);
  out.fill(0, offset + itemsEnd, offset + bytes);
  return bytes;
}

/** BYE for up to 31 sources with an optional reason (6.6), padded with nulls to 32 bits. */
export function serializeBye(
  out: Uint8Array,
  offset: number,
  ssrcs: readonly number[],
  reason?: string | Uint8Array,
): number {
  if (ssrcs.length > MAX_REPORT_BLOCKS) throw new RangeError(`${ssrcs.length} sources, at most 31 in one BYE`);
  const text = reason === undefined ? undefined : toBytes(reason);
  if (text !== undefined && text.length > 255) throw new RangeError(`BYE reason of ${text.length} bytes, at most 255`);
  const listEnd = 4 + ssrcs.length * 4;
  const bytes = text === undefined ? listEnd : (listEnd + 1 + text.length + 3) & ~3;
  need(out, offset, bytes, 'BYE');
  writeHeader(out, offset, ssrcs.length, RtcpType.BYE, bytes);
  for (let i = 0; i < ssrcs.length; i++) writeU32(out, offset + 4 + i * 4, ssrcs[i]!);
  if (text !== undefined) {
    out[offset + listEnd] = text.length;
    out.set(text, offset + listEnd + 1);
    out.fill(0, offset + listEnd + 1 + text.length, offset + bytes);
  }
  return bytes;
}

export interface CompoundRtcpInit {
  /** Our SSRC. */
  ssrc: number;
  /** Present when we sent RTP since the last report: the head is an SR, else an RR (6.4). */
  sender?: SenderInfo;
  /** Report blocks about the sources we receive; more than 31 spill into extra RRs (6.4.2). */
  reports: readonly ReportBlock[];
  /** CNAME (6.5.1), mandatory in every compound packet (6.1). */
  cname: string | Uint8Array;
  /** Append a BYE for our SSRC (6.6), e.g. when the endpoint closes. */
  bye?: boolean;
  byeReason?: string | Uint8Array;
}

/**
 * Compound packet SR|RR (+ RR...) + SDES(CNAME) (+ BYE), in the order 6.1 requires: report
 * first, CNAME always, BYE last. Returns bytes written.
 */
export function buildCompoundRtcp(out: Uint8Array, offset: number, init: CompoundRtcpInit): number {
  let o = offset;
  const all = init.reports;
  const head = all.length > MAX_REPORT_BLOCKS ? all.slice(0, MAX_REPORT_BLOCKS) : all;
  if (init.sender !== undefined) {
    const s = init.sender;
    o += serializeSenderReport(out, o, {
      ssrc: init.ssrc,
      ntpMsw: s.ntpMsw,
      ntpLsw: s.ntpLsw,
      rtpTimestamp: s.rtpTimestamp,
      packetCount: s.packetCount,
      octetCount: s.octetCount,
      reports: head,
    });
  } else {
    o += serializeReceiverReport(out, o, { ssrc: init.ssrc, reports: head });
  }
  for (let i = MAX_REPORT_BLOCKS; i < all.length; i += MAX_REPORT_BLOCKS) {
    o += serializeReceiverReport(out, o, { ssrc: init.ssrc, reports: all.slice(i, i + MAX_REPORT_BLOCKS) });
  }
  o += serializeSdes(out, o, init.ssrc, init.cname);
  if (init.bye === true) o += serializeBye(out, o, [init.ssrc], init.byeReason);
  return o - offset;
}
