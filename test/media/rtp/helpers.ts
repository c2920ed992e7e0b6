/** Hand-built packets for the rtp tests. */

export interface RtpSpec {
  version?: number;
  pt?: number;
  marker?: boolean;
  seq?: number;
  ts?: number;
  ssrc?: number;
  csrcs?: number[];
  /** Extension profile and data (length a multiple of 4). */
  ext?: { profile: number; data: number[] };
  payload?: number[];
  /** Padding octets, count octet included (0 = no P bit). */
  padding?: number;
}

/** Build an RTP packet byte by byte, independently of the code under test. */
export function buildRtp(s: RtpSpec = {}): Uint8Array {
  const csrcs = s.csrcs ?? [];
  const payload = s.payload ?? [1, 2, 3, 4];
  const bytes: number[] = [];
  const pad = s.padding ?? 0;
  bytes.push(((s.version ?? 2) << 6) | (pad > 0 ? 0x20 : 0) | (s.ext ? 0x10 : 0) | csrcs.length);
  bytes.push((s.marker === true ? 0x80 : 0) | (s.pt ?? 0));
  const seq = s.seq ?? 1;
  bytes.push((seq >> 8) & 0xff, seq & 0xff);
  pushU32(bytes, s.ts ?? 0);
  pushU32(bytes, s.ssrc ?? 0x11223344);
  for (const c of csrcs) pushU32(bytes, c);
  if (s.ext) {
    bytes.push((s.ext.profile >> 8) & 0xff, s.ext.profile & 0xff);
    const words = s.ext.data.length / 4;
    bytes.push((words >> 8) & 0xff, words & 0xff);
    bytes.push(...s.ext.data);
  }
  bytes.push(...payload);
  if (pad > 0) {
    for (let i = 0; i < pad - 1; i++) bytes.push(0);
    bytes.push(pad);
  }
  return Uint8Array.from(bytes);
}

export function pushU32(bytes: number[], v: number): void {
  bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
