/** Hand-built packets and a minimal pcap reader for the rtp tests. */
import { readFileSync } from 'node:fs';

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

export interface PcapUdp {
  timeMs: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** UDP datagrams of a classic libpcap file (Ethernet or raw IPv4 link types, IPv4 only). */
export function readPcapUdp(path: string): PcapUdp[] {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4;
  if (!le && magic !== 0xd4c3b2a1) throw new Error(`${path}: not a pcap file`);
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const out: PcapUdp[] = [];
  let o = 24;
  while (o + 16 <= b.length) {
    const sec = u32(o);
    const usec = u32(o + 4);
    const incl = u32(o + 8);
    const frame = b.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    let ip = 0;
    if (linkType === 1) {
      if (frame.readUInt16BE(12) !== 0x0800) continue;
      ip = 14;
    } else if (linkType !== 101 && linkType !== 228) {
      continue;
    }
    if (frame[ip]! >> 4 !== 4 || frame[ip + 9] !== 17) continue;
    const udp = ip + (frame[ip]! & 0x0f) * 4;
    const udpLen = frame.readUInt16BE(udp + 4);
    out.push({
      timeMs: sec * 1000 + usec / 1000,
      srcPort: frame.readUInt16BE(udp),
      dstPort: frame.readUInt16BE(udp + 2),
      payload: new Uint8Array(frame.subarray(udp + 8, udp + udpLen)),
    });
  }
  return out;
}

/** Write UDP datagrams (127.0.0.1 → 127.0.0.1) as a pcap with raw IPv4 link type, for tshark. */
export function writePcapUdp(datagrams: { srcPort: number; dstPort: number; payload: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(65535, 16);
  gh.writeUInt32LE(101, 20); // LINKTYPE_RAW
  parts.push(gh);
  datagrams.forEach((d, i) => {
    const len = 20 + 8 + d.payload.length;
    const rec = Buffer.alloc(16 + len);
    rec.writeUInt32LE(1700000000 + i, 0);
    rec.writeUInt32LE(0, 4);
    rec.writeUInt32LE(len, 8);
    rec.writeUInt32LE(len, 12);
    const ip = 16;
    rec[ip] = 0x45;
    rec.writeUInt16BE(len, ip + 2);
    rec[ip + 8] = 64;
    rec[ip + 9] = 17;
    rec.writeUInt32BE(0x7f000001, ip + 12);
    rec.writeUInt32BE(0x7f000001, ip + 16);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += rec.readUInt16BE(ip + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    rec.writeUInt16BE(~sum & 0xffff, ip + 10);
    const udp = ip + 20;
    rec.writeUInt16BE(d.srcPort, udp);
    rec.writeUInt16BE(d.dstPort, udp + 2);
    rec.writeUInt16BE(8 + d.payload.length, udp + 4);
    rec.set(d.payload, udp + 8);
    parts.push(rec);
  });
  return Buffer.concat(parts);
}
