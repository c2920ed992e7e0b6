import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePcap, readPcapFile } from '../../helpers/pcap.ts';
import { needs } from '../../helpers/peers.ts';

/** An IPv4/UDP packet 10.0.0.1:5004 -> 10.0.0.2:6000 carrying `payload`. */
function ipv4Udp(payload: Buffer): Buffer {
  const ip = Buffer.alloc(20 + 8 + payload.length);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(ip, 12);
  ip.writeUInt16BE(5004, 20);
  ip.writeUInt16BE(6000, 22);
  ip.writeUInt16BE(8 + payload.length, 24);
  payload.copy(ip, 28);
  return ip;
}

/** A classic pcap file with the given byte order, time resolution and link type. */
function pcap(le: boolean, nanos: boolean, linkType: number, frames: Buffer[]): Buffer {
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  };
  const u16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  };
  const parts = [u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(65535), u32(linkType)];
  frames.forEach((f, i) => {
    // Second frame 20.5 ms after the first.
    parts.push(u32(1000), u32(i === 0 ? 0 : nanos ? 20_500_000 : 20_500), u32(f.length), u32(f.length), f);
  });
  return Buffer.concat(parts);
}

test('parsePcap() reads both byte orders, micro/nanosecond stamps and Ethernet, SLL and raw links', () => {
  const a = ipv4Udp(Buffer.from('first'));
  const b = ipv4Udp(Buffer.from('second'));
  const ether = (ip: Buffer): Buffer => Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x00]), ip]);
  const vlan = (ip: Buffer): Buffer =>
    Buffer.concat([Buffer.alloc(12), Buffer.from([0x81, 0x00, 0, 5, 0x08, 0x00]), ip]);
  const sll = (ip: Buffer): Buffer => Buffer.concat([Buffer.alloc(14), Buffer.from([0x08, 0x00]), ip]);
  const cases: Array<[string, Buffer]> = [
    ['LE us ethernet', pcap(true, false, 1, [ether(a), ether(b)])],
    ['BE ns ethernet+vlan', pcap(false, true, 1, [vlan(a), ether(b)])],
    ['LE ns sll', pcap(true, true, 113, [sll(a), sll(b)])],
    ['BE us raw 101', pcap(false, false, 101, [a, b])],
    ['LE us ipv4 228', pcap(true, false, 228, [a, b])],
  ];
  for (const [name, file] of cases) {
    const { datagrams, skipped } = parsePcap(file);
    assert.equal(skipped, 0, name);
    assert.deepEqual(
      datagrams.map((d) => d.payload.toString()),
      ['first', 'second'],
      name,
    );
    assert.deepEqual(
      {
        srcIp: datagrams[0]!.srcIp,
        srcPort: datagrams[0]!.srcPort,
        dstIp: datagrams[0]!.dstIp,
        dstPort: datagrams[0]!.dstPort,
      },
      { srcIp: '10.0.0.1', srcPort: 5004, dstIp: '10.0.0.2', dstPort: 6000 },
      name,
    );
    assert.equal(datagrams[0]!.timeMs, 0, name);
    assert.ok(Math.abs(datagrams[1]!.timeMs - 20.5) < 1e-9, `${name}: ${datagrams[1]!.timeMs}`);
  }
});

test('parsePcap() skips non-UDP and truncated records and rejects pcapng', () => {
  const tcp = ipv4Udp(Buffer.from('x'));
  tcp[9] = 6;
  const { datagrams, skipped } = parsePcap(pcap(true, false, 101, [tcp, ipv4Udp(Buffer.from('ok'))]));
  assert.deepEqual(
    datagrams.map((d) => d.payload.toString()),
    ['ok'],
  );
  assert.equal(skipped, 1);
  assert.throws(() => parsePcap(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(20).fill(0)])), /pcapng/);
});

test('readPcapFile() reads the SIPp RFC 2833 captures', needs('sipp-captures'), () => {
  const { linkType, datagrams } = readPcapFile('/usr/share/sip-tester/dtmf_2833_1.pcap');
  assert.equal(linkType, 1);
  assert.equal(datagrams.length, 10);
  assert.ok(datagrams.every((d) => d.dstPort === 10000 && d.payload.length === 16));
  assert.ok(datagrams[1]!.timeMs > 15 && datagrams[1]!.timeMs < 25, 'packets 20 ms apart');
});
