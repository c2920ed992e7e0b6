import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpSender } from '../../../src/media/transport/RtpSender.ts';
import {
  S,
  SENDER_INTS,
  SF,
  SENDER_FLOAT_OFFSET,
  SENDER_FLOATS,
} from '../../../src/media/transport/udp/offloadLayout.ts';

/** A relayed packet as a bridge peer would hand it over (header fields are rewritten in place). */
function packet(seq: number, ts: number): Uint8Array {
  const b = Buffer.alloc(172);
  b[0] = 0x80;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(0xabcdef01, 8);
  return b;
}

function header(b: Uint8Array): { marker: boolean; seq: number; ts: number; ssrc: number } {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { marker: (b[1]! & 0x80) !== 0, seq: v.readUInt16BE(2), ts: v.readUInt32BE(4), ssrc: v.readUInt32BE(8) };
}

test('RtpSender keeps one stream across relayed sources, generated frames and inserted events', () => {
  const s = new RtpSender(8000, 160);
  const out: Array<ReturnType<typeof header>> = [];
  const relay = (source: number, seq: number, ts: number, now: number) => {
    const p = packet(seq, ts);
    s.rewrite(p, source, seq, ts, now);
    out.push(header(p));
  };
  relay(1, 500, 9000, 1000);
  relay(1, 501, 9160, 1020);
  relay(1, 503, 9480, 1060); // a lost packet upstream: the gap is passed on, not hidden
  assert.equal(out[0]!.marker, true, 'a new source starts a talkspurt');
  assert.deepEqual(
    out.slice(1).map((h) => [h.marker, h.seq - out[0]!.seq, h.ts - out[0]!.ts]),
    [
      [false, 1, 160],
      [false, 3, 480],
    ],
  );
  // An event inserted with a timestamp of its own shifts the relayed packets after it by one.
  const ev = new Uint8Array(16);
  s.writeInsertedHeader(ev, 101, 12345, true);
  assert.equal(header(ev).seq, (out[2]!.seq + 1) & 0xffff);
  relay(1, 504, 9640, 1080);
  assert.equal(out[3]!.seq, (header(ev).seq + 1) & 0xffff, 'no sequence number is repeated');
  // Another source 200 ms later: marker, sequence continues, timestamp by the elapsed time.
  relay(2, 7, 100, 1280);
  assert.equal(out[4]!.marker, true);
  assert.equal(out[4]!.seq, (out[3]!.seq + 1) & 0xffff);
  assert.equal((out[4]!.ts - out[3]!.ts) >>> 0, 1600, '200 ms at 8 kHz');
  // A generated frame right after continues the same numbering.
  const g = new Uint8Array(172);
  s.writeHeader(g, 0, 3, 160, 1300);
  assert.equal(header(g).seq, (out[4]!.seq + 1) & 0xffff);
  assert.equal(new Set([...out.map((h) => h.ssrc), header(g).ssrc, header(ev).ssrc]).size, 1, 'one SSRC');
  assert.equal(s.lastWallMs, 1300, 'the time given back exactly (the silence fill compares it)');
});

test('RtpSender state is the shared block the addon relays into (udp/offloadLayout.ts)', () => {
  const s = new RtpSender(8000, 160);
  const w = new Int32Array(s.block, 0, SENDER_INTS);
  const f = new Float64Array(s.block, SENDER_FLOAT_OFFSET, SENDER_FLOATS);
  const p = packet(10, 1000);
  s.rewrite(p, 42, 10, 1000, 5000);
  s.count(172);
  const h = header(p);
  assert.equal(w[S.SEQ], h.seq);
  assert.equal(w[S.TS]! >>> 0, h.ts);
  assert.equal(w[S.SSRC]! >>> 0, s.ssrc);
  assert.equal(w[S.SOURCE], 42);
  assert.equal(w[S.LOCK], 0, 'the lock is released');
  assert.equal(s.packets, 1);
  assert.equal(f[SF.OCTETS], 160);
  // What the addon writes (another thread relaying into this stream) is what the sender reads.
  w[S.SEQ] = (h.seq + 5) & 0xffff;
  w[S.PACKETS] = 6;
  const g = new Uint8Array(172);
  s.writeHeader(g, 0, 42, 160, 5100);
  assert.equal(header(g).seq, (h.seq + 6) & 0xffff);
  assert.equal(s.packets, 6);
  s.setRelayTarget({ fd: 7, ip: 0x7f000001, port: 4000, payloadType: 8, codecKey: 99 });
  assert.deepEqual([w[S.RELAY_OK], w[S.FD], w[S.DST_PORT], w[S.PT_OUT], w[S.CODEC_KEY]], [1, 7, 4000, 8, 99]);
  s.setRelayTarget(null);
  assert.deepEqual([w[S.RELAY_OK], w[S.FD]], [0, -1]);
});
