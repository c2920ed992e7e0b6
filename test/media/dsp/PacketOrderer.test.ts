import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ORDER_LOST, ORDER_WAIT, PacketOrderer } from '../../../src/media/dsp/PacketOrderer.ts';

const out = new Uint8Array(1500);
const payload = (seq: number) => Uint8Array.of(seq & 0xff, 1, 2);

/** Everything next() hands out now: sequence numbers, or 'L<seq>' for a declared loss. */
function drain(o: PacketOrderer, nowMs: number, force = false): Array<number | string> {
  const got: Array<number | string> = [];
  for (;;) {
    const r = o.next(out, nowMs, force);
    if (r === ORDER_WAIT) return got;
    got.push(r === ORDER_LOST ? `L${o.seq}` : o.seq);
  }
}

test('PacketOrderer passes an in-order stream straight through (no delay), across the sequence wrap', () => {
  const o = new PacketOrderer();
  const seen: number[] = [];
  for (let i = 0; i < 40; i++) {
    const seq = (65520 + i) & 0xffff;
    o.put(seq, i * 160, payload(seq), i * 20);
    const got = drain(o, i * 20);
    assert.equal(got.length, 1, `packet ${seq} handed out on arrival`);
    seen.push(got[0] as number);
    assert.equal(o.ts, i * 160);
    assert.equal(out[0], seq & 0xff);
  }
  assert.equal(seen[16], 0);
  assert.deepEqual(o.stats, { received: 40, late: 0, lost: 0, duplicates: 0, reordered: 0, discarded: 0, resets: 0 });
});

test('PacketOrderer puts a burst that came in any order back in order, waiting for the gap', () => {
  const o = new PacketOrderer();
  o.put(100, 0, payload(100), 0);
  assert.deepEqual(drain(o, 0), [100]);
  for (const seq of [104, 102, 105, 103]) o.put(seq, 0, payload(seq), 50);
  assert.deepEqual(drain(o, 55), [], '101 is waited for');
  o.put(101, 0, payload(101), 60);
  assert.deepEqual(drain(o, 60), [101, 102, 103, 104, 105]);
  assert.equal(o.stats.lost, 0);
  assert.equal(o.stats.reordered, 4);
});

test('PacketOrderer declares a gap lost once the reorder window has passed, and counts a packet that comes later as late', () => {
  const o = new PacketOrderer({ reorderMs: 60 });
  o.put(1, 0, payload(1), 0);
  o.put(3, 320, payload(3), 40);
  assert.deepEqual(drain(o, 40), [1]);
  assert.deepEqual(drain(o, 99), [], 'within 60 ms of the later packet');
  assert.deepEqual(drain(o, 100), ['L2', 3]);
  assert.equal(o.put(2, 160, payload(2), 120), false);
  assert.equal(o.stats.late, 1);
  assert.equal(o.stats.lost, 1);
});

test('PacketOrderer.next(force) flushes what is held past its gaps; a new sender restarts it', () => {
  const o = new PacketOrderer();
  o.put(10, 0, payload(10), 0);
  o.put(12, 0, payload(12), 0);
  assert.deepEqual(drain(o, 0, true), [10, 'L11', 12]);
  assert.equal(o.restarted, false);
  o.put(40000, 0, payload(40000), 10);
  assert.deepEqual(drain(o, 10), [40000]);
  assert.equal(o.restarted, true);
  assert.equal(o.stats.resets, 1);
  o.put(40000, 0, payload(40000), 10);
  assert.equal(o.stats.late + o.stats.duplicates, 1, 'a repeat of a packet handed out is not handed out again');
});

test('PacketOrderer skips a long burst of loss when nothing is held', () => {
  const o = new PacketOrderer();
  o.put(1, 0, payload(1), 0);
  drain(o, 0);
  o.put(101, 16000, payload(101), 2000);
  assert.deepEqual(drain(o, 2000), [101]);
  assert.equal(o.stats.lost, 99);
});
