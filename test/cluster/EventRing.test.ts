import assert from 'node:assert/strict';
import test from 'node:test';
import { EventRing } from '../../src/cluster/EventRing.ts';
import type { ServerEvent } from '../../src/control/types.ts';

const ev = (seq: number): ServerEvent => ({ seq, type: 'x.y', time: '2026-01-01T00:00:00.000Z' });
const seqs = (events: ServerEvent[]) => events.map((e) => e.seq);

test('EventRing.since() returns the events after a seq, oldest first, across a seq jump', () => {
  const ring = new EventRing(8);
  for (const s of [1, 2, 3, 1004, 1005]) assert.equal(ring.push(ev(s)), true);
  assert.deepEqual(seqs(ring.since(0)), [1, 2, 3, 1004, 1005]);
  assert.deepEqual(seqs(ring.since(2)), [3, 1004, 1005]);
  // a seq inside the jump: what follows it
  assert.deepEqual(seqs(ring.since(500)), [1004, 1005]);
  assert.deepEqual(seqs(ring.since(1005)), []);
  assert.equal(ring.oldestSeq, 1);
  assert.equal(ring.lastSeq, 1005);
});

test('EventRing keeps the last `capacity` events once full', () => {
  const ring = new EventRing(3);
  for (let s = 1; s <= 10; s++) ring.push(ev(s));
  assert.equal(ring.size, 3);
  assert.equal(ring.oldestSeq, 8);
  assert.deepEqual(seqs(ring.since(0)), [8, 9, 10]);
  assert.deepEqual(seqs(ring.since(8)), [9, 10]);
});

test('EventRing.push() refuses a seq that does not increase (a duplicate entry)', () => {
  const ring = new EventRing(4);
  ring.push(ev(5));
  assert.equal(ring.push(ev(5)), false);
  assert.equal(ring.push(ev(4)), false);
  assert.deepEqual(seqs(ring.since(0)), [5]);
  assert.equal(new EventRing(4).oldestSeq, 0);
});
