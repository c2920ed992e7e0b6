/**
 * Minimal reader and writer for classic libpcap capture files (not pcapng), for replaying captures
 * such as SIPp's /usr/share/sip-tester/*.pcap into endpoints under test and for handing our own
 * packets to tshark.
 *
 * Format: https://wiki.wireshark.org/Development/LibpcapFileFormat (global header 24 bytes,
 * record header 16 bytes). Both byte orders, microsecond (0xa1b2c3d4) and nanosecond
 * (0xa1b23c4d) magic. Link types: Ethernet (1, with 802.1Q tags), raw IPv4 (101 and 228),
 * Linux cooked SLL (113). Only unfragmented IPv4/UDP datagrams are returned; everything else
 * (ARP, IPv6, TCP, fragments, truncated records) is skipped.
 */
import { readFileSync } from 'node:fs';

export interface UdpDatagram {
  /** Capture time in ms relative to the first record of the file. */
  timeMs: number;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  payload: Buffer;
}

export interface PcapFile {
  linkType: number;
  datagrams: UdpDatagram[];
  /** Records that were not IPv4/UDP or were malformed/truncated. */
  skipped: number;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_IPV4 = 228;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

export function readPcapFile(path: string): PcapFile {
  return parsePcap(readFileSync(path));
}

export function parsePcap(buf: Buffer): PcapFile {
  if (buf.length < 24) throw new Error('pcap: file shorter than the 24-byte global header');
  const magicLE = buf.readUInt32LE(0);
  let le: boolean;
  let nanos: boolean;
  if (magicLE === 0xa1b2c3d4) {
    le = true;
    nanos = false;
  } else if (magicLE === 0xa1b23c4d) {
    le = true;
    nanos = true;
  } else if (magicLE === 0xd4c3b2a1) {
    le = false;
    nanos = false;
  } else if (magicLE === 0x4d3cb2a1) {
    le = false;
    nanos = true;
  } else throw new Error(`pcap: unknown magic 0x${magicLE.toString(16)} (pcapng is not supported)`);

  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  // The link type shares its 32-bit field with FCS bits in the top nibble (pcap-savefile(5)).
  const linkType = u32(20) & 0x0fffffff;

  const datagrams: UdpDatagram[] = [];
  let skipped = 0;
  let firstUs: number | undefined;
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    off += 16;
    if (off + inclLen > buf.length) {
      skipped++;
      break;
    }
    const rec = buf.subarray(off, off + inclLen);
    off += inclLen;
    const us = sec * 1e6 + (nanos ? frac / 1000 : frac);
    firstUs ??= us;
    if (inclLen < origLen) {
      skipped++;
      continue;
    }
    const ipOff = ipv4Offset(rec, linkType);
    const d = ipOff < 0 ? undefined : udpFromIpv4(rec, ipOff);
    if (d === undefined) {
      skipped++;
      continue;
    }
    d.timeMs = (us - firstUs) / 1000;
    datagrams.push(d);
  }
  return { linkType, datagrams, skipped };
}

/** Offset of the IPv4 header inside a link-layer record, or -1 when it is not IPv4. */
function ipv4Offset(rec: Buffer, linkType: number): number {
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (rec.length < 14) return -1;
      let off = 12;
      let type = rec.readUInt16BE(off);
      while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && off + 6 <= rec.length) {
        off += 4;
        type = rec.readUInt16BE(off);
      }
      return type === ETHERTYPE_IPV4 ? off + 2 : -1;
    }
    case LINKTYPE_LINUX_SLL:
      // 16-byte cooked header, protocol type in the last two bytes.
      if (rec.length < 16) return -1;
      return rec.readUInt16BE(14) === ETHERTYPE_IPV4 ? 16 : -1;
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      return rec.length > 0 && rec[0]! >> 4 === 4 ? 0 : -1;
    default:
      return -1;
  }
}

function udpFromIpv4(rec: Buffer, off: number): UdpDatagram | undefined {
  if (off + 20 > rec.length) return undefined;
  const vihl = rec[off]!;
  if (vihl >> 4 !== 4) return undefined;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return undefined;
  const totalLen = rec.readUInt16BE(off + 2);
  const flagsFrag = rec.readUInt16BE(off + 6);
  // More-fragments flag or a non-zero offset: a fragment, which we do not reassemble.
  if ((flagsFrag & 0x2000) !== 0 || (flagsFrag & 0x1fff) !== 0) return undefined;
  if (rec[off + 9] !== 17) return undefined;
  const ipEnd = Math.min(rec.length, off + totalLen);
  const udp = off + ihl;
  if (udp + 8 > ipEnd) return undefined;
  const udpLen = rec.readUInt16BE(udp + 4);
  if (udpLen < 8 || udp + udpLen > ipEnd) return undefined;
  return {
    timeMs: 0,
    srcIp: ipString(rec, off + 12),
    srcPort: rec.readUInt16BE(udp),
    dstIp: ipString(rec, off + 16),
    dstPort: rec.readUInt16BE(udp + 2),
    payload: Buffer.from(rec.subarray(udp + 8, udp + udpLen)),
  };
}

function ipString(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
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
