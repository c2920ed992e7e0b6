import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointMediaConfig } from '../../../src/protocol/index.ts';
import { Doorbell } from '../../../src/common/Doorbell.ts';
import { SpscRing } from '../../../src/common/SpscRing.ts';
import { BridgeLink, RingTarget, type LinkTarget } from '../../../src/media/engines/BridgeLink.ts';
import type { Clocked, MediaClock } from '../../../src/media/engines/MediaClock.ts';
import type { RtpEndpoint } from '../../../src/media/transport/RtpEndpoint.ts';
import { DROP_REASON_NAMES } from '../../../src/media/transport/dropReasons.ts';

function media(name: string, payloadType: number): EndpointMediaConfig {
  return {
    remote: { ip: '127.0.0.1', rtpPort: 40000, rtcpPort: 40001 },
    rtcpMux: false,
    codec: { name, payloadType, clockRate: 8000, channels: 1, ptime: 20, fmtp: {} },
    telephoneEvent: null,
    direction: 'sendrecv',
  };
}

/** A clock the test drives: it holds what subscribed. */
class ManualClock {
  readonly subscribers = new Set<Clocked>();
  add(c: Clocked): void {
    this.subscribers.add(c);
  }
  delete(c: Clocked): void {
    this.subscribers.delete(c);
  }
  tick(nowMs: number): void {
    for (const c of [...this.subscribers]) c.onTick(nowMs);
  }
}

function packet(seq: number, ts: number, pt: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(0x11223344, 8);
  return b;
}

test('BridgeLink stops the transcoding output once a renegotiation makes both legs share a codec', () => {
  const from = {
    media: media('pcmu', 0),
    eventPackets: 0,
    offloadChanged: () => {},
    drops: new Uint32Array(DROP_REASON_NAMES.length),
  };
  let dstMedia = media('g722', 9);
  const delivered: { pt: number; source: number }[] = [];
  const target: LinkTarget = {
    media: () => dstMedia,
    deliver: (buf, _len, source) => {
      delivered.push({ pt: buf[1]! & 0x7f, source });
    },
  };
  const clock = new ManualClock();
  const link = new BridgeLink(from as unknown as RtpEndpoint, target, clock as unknown as MediaClock);
  let now = 0;
  let seq = 1000;
  // PCMU -> G.722: decoded through the jitter buffer, re-encoded on the clock.
  for (let i = 0; i < 10; i++, seq++, now += 20) {
    const p = packet(seq, seq * 160, 0);
    link.onPacket(p, 12, 160, false, seq, seq * 160, 0x11223344, now);
    clock.tick(now);
  }
  assert.ok(delivered.length > 0, 'transcoded frames went out');
  // Re-INVITE: the destination now speaks PCMU too, so packets are relayed as received.
  dstMedia = media('pcmu', 0);
  delivered.length = 0;
  for (let i = 0; i < 10; i++, seq++, now += 20) {
    const p = packet(seq, seq * 160, 0);
    link.onPacket(p, 12, 160, false, seq, seq * 160, 0x11223344, now);
    clock.tick(now);
  }
  const sources = new Set(delivered.map((d) => d.source));
  assert.equal(delivered.length, 10, 'one packet out per packet in, nothing from the old transcoder');
  assert.equal(sources.size, 1, 'one source: the destination stream is not re-based back and forth');
  link.close();
});

test('BridgeLink never decodes audio buffered before a renegotiation with the new codec', () => {
  const from = {
    media: media('pcmu', 0),
    eventPackets: 0,
    offloadChanged: () => {},
    drops: new Uint32Array(DROP_REASON_NAMES.length),
  };
  const l16: EndpointMediaConfig = { ...media('l16', 96) };
  let peak = 0;
  let frames = 0;
  const target: LinkTarget = {
    media: () => l16,
    deliver: (buf, len) => {
      frames++;
      const view = Buffer.from(buf.buffer, buf.byteOffset, len);
      for (let o = 12; o + 1 < len; o += 2) peak = Math.max(peak, Math.abs(view.readInt16BE(o)));
    },
  };
  const clock = new ManualClock();
  const link = new BridgeLink(from as unknown as RtpEndpoint, target, clock as unknown as MediaClock);
  let now = 0;
  let seq = 2000;
  // Digital silence all along: mu-law 0xff, then (after a re-INVITE to PCMA) A-law 0xd5.
  const feed = (pt: number, silence: number): void => {
    const p = packet(seq, seq * 160, pt);
    p.fill(silence, 12);
    link.onPacket(p, 12, 160, false, seq, seq * 160, 0x11223344, now);
    clock.tick(now);
    seq++;
    now += 20;
  };
  for (let i = 0; i < 10; i++) feed(0, 0xff);
  from.media = media('pcma', 8);
  for (let i = 0; i < 10; i++) feed(8, 0xd5);
  for (let i = 0; i < 5; i++, now += 20) clock.tick(now);
  assert.ok(frames >= 15, `frames went out (${frames})`);
  assert.ok(peak <= 16, `silence stays silence across the codec change (peak ${peak})`);
  link.close();
});

test('BridgeLink transcoding: a clock catching up several ticks at once sends distinct packets (the socket reads each buffer later)', () => {
  const from = {
    media: media('pcmu', 0),
    eventPackets: 0,
    offloadChanged: () => {},
    drops: new Uint32Array(DROP_REASON_NAMES.length),
  };
  const handed: Uint8Array[] = [];
  const target: LinkTarget = {
    media: () => ({
      ...media('l16', 96),
      codec: { name: 'l16', payloadType: 96, clockRate: 8000, channels: 1, ptime: 20, fmtp: {} },
    }),
    // as sendRelayed() does: the header is rewritten in place, the bytes are read on a later tick
    deliver: (buf, _len, _source, seq) => {
      buf[2] = seq >> 8;
      buf[3] = seq & 0xff;
      handed.push(buf);
    },
  };
  const clock = new ManualClock();
  const link = new BridgeLink(from as unknown as RtpEndpoint, target, clock as unknown as MediaClock);
  // a burst of 40 packets after a stall, then 10 ticks run back to back (one turn of the loop)
  for (let seq = 0; seq < 40; seq++)
    link.onPacket(packet(seq, seq * 160, 0), 12, 160, false, seq, seq * 160, 0x11223344, 0);
  for (let i = 0; i < 10; i++) clock.tick(200 + 20 * i);
  const seqs = handed.map((b) => (b[2]! << 8) | b[3]!);
  assert.ok(seqs.length >= 5, `${seqs.length} frames sent`);
  assert.equal(new Set(seqs).size, seqs.length, `sequence numbers on the wire: ${seqs.join(', ')}`);
});

test("BridgeLink into a RingTarget hands packets to the other worker's ring and counts a full ring as bridge_ring_full", () => {
  const from = {
    media: media('pcmu', 0),
    eventPackets: 0,
    offloadChanged: () => {},
    drops: new Uint32Array(DROP_REASON_NAMES.length),
  };
  const sab = SpscRing.create(1024);
  const bellBuffer = Doorbell.create();
  const target = new RingTarget(new SpscRing(sab), new Doorbell(bellBuffer), media('pcmu', 8), from.drops);
  const link = new BridgeLink(from as unknown as RtpEndpoint, target, null);
  // 1024 bytes hold five 188-byte records (16 + 172): the sixth and seventh are refused.
  for (let seq = 0; seq < 7; seq++)
    link.onPacket(packet(seq, seq * 160, 0), 12, 160, false, seq, seq * 160, 0x11223344, seq * 20);
  assert.equal(from.drops[DROP_REASON_NAMES.indexOf('bridge_ring_full')], 2);
  const rx = new SpscRing(sab);
  const out = new Uint32Array(256);
  const bytes = new Uint8Array(out.buffer);
  const seqs: number[] = [];
  for (let n = rx.read(out); n >= 0; n = rx.read(out)) {
    assert.equal(n, 172);
    assert.equal(bytes[1]! & 0x7f, 8, 'payload type mapped for the destination leg');
    seqs.push(rx.seq);
  }
  assert.deepEqual(seqs, [0, 1, 2, 3, 4]);
});
