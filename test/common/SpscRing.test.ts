import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpscRing } from '../../src/common/SpscRing.ts';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i) & 0xff;
  return b;
}

/** Producer and consumer ends over one buffer, as two workers hold them. */
function ends(capacity: number): { tx: SpscRing; rx: SpscRing; out: Uint32Array; outBytes: Uint8Array } {
  const sab = SpscRing.create(capacity);
  const out = new Uint32Array(Math.ceil(SpscRing.maxPayloadOf(capacity) / 4));
  return { tx: new SpscRing(sab), rx: new SpscRing(sab), out, outBytes: new Uint8Array(out.buffer) };
}

test('SpscRing.read() returns packets in order with their payload and three words', () => {
  const { tx, rx, out, outBytes } = ends(1024);
  assert.equal(rx.read(out), -1, 'empty');
  assert.equal(rx.readable, false);
  assert.ok(tx.push(bytes(172, 1), 172, 0xdeadbeef, 65535, 0xfffffff0));
  assert.ok(tx.push(bytes(5, 2), 5, 1, 2, 3));
  assert.ok(tx.push(new Uint8Array(0), 0, 7, 8, 9));
  assert.equal(rx.readable, true);
  assert.equal(rx.read(out), 172);
  assert.deepEqual(outBytes.subarray(0, 172), bytes(172, 1));
  assert.deepEqual([rx.source, rx.seq, rx.ts], [0xdeadbeef, 65535, 0xfffffff0]);
  assert.equal(rx.read(out), 5);
  assert.deepEqual(outBytes.subarray(0, 5), bytes(5, 2));
  assert.deepEqual([rx.source, rx.seq, rx.ts], [1, 2, 3]);
  assert.equal(rx.read(out), 0);
  assert.deepEqual([rx.source, rx.seq, rx.ts], [7, 8, 9]);
  assert.equal(rx.read(out), -1);
  assert.equal(tx.used, 0);
  assert.equal(tx.dropped, 0);
});

test('SpscRing.push() copies only `length` bytes of a larger buffer', () => {
  const { tx, rx, out, outBytes } = ends(256);
  const big = bytes(100, 9);
  assert.ok(tx.push(big, 13, 0, 0, 0));
  assert.equal(rx.read(out), 13);
  assert.deepEqual(outBytes.subarray(0, 13), big.subarray(0, 13));
});

test('SpscRing wraps records around the end of its area, many times over', () => {
  const { tx, rx, out, outBytes } = ends(256);
  // Lengths that do not divide the area: records land at every offset and wrap often.
  let pushed = 0;
  let read = 0;
  for (let round = 0; round < 2000; round++) {
    const len = (round * 37) % 49;
    assert.ok(tx.push(bytes(len, round), len, round, round & 0xffff, round * 160), `push ${round}`);
    pushed++;
    if (round % 3 !== 0) {
      const n = rx.read(out);
      assert.equal(n, (read * 37) % 49);
      assert.deepEqual(outBytes.subarray(0, n), bytes(n, read));
      assert.equal(rx.source, read);
      read++;
    }
    while (tx.used > 128) {
      const n = rx.read(out);
      assert.deepEqual(outBytes.subarray(0, n), bytes(n, read));
      assert.equal(rx.ts, read * 160);
      read++;
    }
  }
  while (rx.read(out) >= 0) read++;
  assert.equal(read, pushed);
  assert.equal(tx.dropped, 0);
});

test('SpscRing refuses and counts a push into a full ring, then takes more once read', () => {
  const { tx, rx, out } = ends(256);
  let accepted = 0;
  while (tx.push(bytes(44, accepted), 44, accepted, 0, 0)) accepted++;
  assert.equal(accepted, 4, 'four records of 60 bytes fit in 256 bytes, a fifth does not');
  assert.equal(tx.dropped, 1);
  assert.equal(tx.push(bytes(44, 99), 44, 99, 0, 0), false);
  assert.equal(rx.dropped, 2, 'the count is shared by both ends');
  assert.equal(rx.read(out), 44);
  assert.equal(rx.source, 0);
  // Freed space is at the start: the record wraps past the 16 bytes left at the end.
  assert.ok(tx.push(bytes(44, 100), 44, 100, 0, 0), 'space freed by the reader');
  const sources: number[] = [];
  while (rx.read(out) >= 0) sources.push(rx.source);
  assert.deepEqual(sources, [1, 2, 3, 100], 'refused packets leave no trace, order kept');
});

test('SpscRing refuses a payload larger than a quarter of the ring, and bad capacities', () => {
  const { tx } = ends(256);
  assert.equal(tx.push(new Uint8Array(64), 64, 0, 0, 0), false);
  assert.equal(tx.dropped, 1);
  assert.ok(tx.push(new Uint8Array(48), 48, 0, 0, 0));
  assert.throws(() => SpscRing.create(1000), RangeError);
  assert.throws(() => SpscRing.create(128), RangeError);
  assert.throws(() => new SpscRing(new SharedArrayBuffer(100)), RangeError);
});

test('SpscRing ends built later pick up where the counters are (wrap of the 32-bit counters)', () => {
  const sab = SpscRing.create(256);
  const control = new Int32Array(sab, 0, 2);
  // Both counters just below 2^32: the next records cross the counters' wrap.
  control[0] = -40;
  control[1] = -40;
  const tx = new SpscRing(sab);
  const rx = new SpscRing(sab);
  const out = new Uint32Array(64);
  for (let i = 0; i < 10; i++) {
    assert.ok(tx.push(bytes(20, i), 20, i, 0, 0));
    assert.equal(rx.read(out), 20);
    assert.equal(rx.source, i);
    assert.deepEqual(new Uint8Array(out.buffer, 0, 20), bytes(20, i));
  }
  assert.equal(rx.read(out), -1);
});
