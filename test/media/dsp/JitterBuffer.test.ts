import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JitterBuffer, JB_EMPTY, JB_LOST } from '../../../src/media/dsp/JitterBuffer.ts';

interface Arrival {
  seq: number;
  ts: number;
  at: number;
}

/** Packet n carries seq base+n (16-bit), ts tsBase+160n (32-bit) and payload [n & 255, n >> 8]. */
function stream(count: number, arrival: (n: number) => number, seqBase = 1000, tsBase = 50_000): Arrival[] {
  const out: Arrival[] = [];
  for (let n = 0; n < count; n++)
    out.push({ seq: (seqBase + n) & 0xffff, ts: (tsBase + 160 * n) >>> 0, at: arrival(n) });
  return out.sort((a, b) => a.at - b.at);
}

function frameNo(p: Arrival, seqBase: number): number {
  return (p.seq - seqBase) & 0xffff;
}

/**
 * Runs the buffer on a 20 ms tick from tick0 to endMs, delivering arrivals in time order between
 * ticks; returns what each tick produced: the frame number, 'lost' or 'empty'.
 */
function run(
  jb: JitterBuffer,
  arrivals: Arrival[],
  endMs: number,
  seqBase = 1000,
  tick0 = 5,
): Array<number | 'lost' | 'empty'> {
  const out: Array<number | 'lost' | 'empty'> = [];
  const buf = new Uint8Array(1500);
  let i = 0;
  for (let now = tick0; now <= endMs; now += 20) {
    while (i < arrivals.length && arrivals[i]!.at <= now) {
      const p = arrivals[i++]!;
      const n = frameNo(p, seqBase);
      jb.put(p.seq, p.ts, Uint8Array.of(n & 255, n >> 8, 7), p.at);
    }
    const r = jb.get(buf, now);
    if (r === JB_LOST) out.push('lost');
    else if (r === JB_EMPTY) out.push('empty');
    else {
      assert.equal(r, 3);
      out.push(buf[0]! | (buf[1]! << 8));
    }
  }
  return out;
}

const played = (o: Array<number | 'lost' | 'empty'>): number[] => o.filter((x): x is number => typeof x === 'number');

test('JitterBuffer.get() plays an in-order stream in order at the minimum delay, nothing lost', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  const out = run(
    jb,
    stream(100, (n) => n * 20),
    2100,
  );
  assert.deepEqual(
    played(out),
    Array.from({ length: 100 }, (_, n) => n),
  );
  // First frame out on the first tick at or after arrival + 20 ms.
  assert.equal(out.indexOf(0), 1);
  assert.equal(jb.stats.lost, 0);
  assert.equal(jb.stats.late, 0);
  assert.equal(jb.targetDelayMs, 20);
});

test('JitterBuffer.get() restores the order of swapped and shuffled packets', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  // Pairs swapped: packet 2k+1 arrives 1 ms before packet 2k, which is 15 ms late.
  const arrivals = stream(200, (n) => (n % 2 === 0 ? n * 20 + 15 : n * 20 - 4));
  const out = run(jb, arrivals, 4200);
  assert.deepEqual(
    played(out),
    Array.from({ length: 200 }, (_, n) => n),
  );
  assert.equal(jb.stats.lost, 0);
  assert.equal(jb.stats.late, 0);
});

test('JitterBuffer.get() answers JB_LOST once in the slot of a missing packet and goes on', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  const arrivals = stream(50, (n) => n * 20).filter((p) => frameNo(p, 1000) !== 10 && frameNo(p, 1000) !== 30);
  const out = run(jb, arrivals, 1005);
  const first = out.indexOf(0);
  const expected: Array<number | 'lost'> = Array.from({ length: 50 }, (_, n) => (n === 10 || n === 30 ? 'lost' : n));
  assert.deepEqual(out.slice(first, first + 50), expected);
  assert.equal(jb.stats.lost, 2);
  assert.equal(jb.stats.concealed, 2);
});

test('JitterBuffer adapts its delay to bursts: after a burst pattern repeats, nothing is concealed', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  // From packet 25 on, every 25th packet starts a 100 ms stall; the stalled ones then arrive together.
  const arrivals = stream(1000, (n) => {
    const k = n % 25;
    return n >= 25 && k < 5 ? Math.floor(n / 25) * 500 + 100 : n * 20;
  });
  const first = run(jb, arrivals, 9_985);
  const concealedFirst = jb.stats.concealed;
  assert.ok(concealedFirst > 0, 'the first burst found the buffer too shallow');
  assert.ok(jb.targetDelayMs >= 100 && jb.targetDelayMs <= 200, `target ${jb.targetDelayMs}`);
  const second = run(
    jb,
    arrivals.filter((p) => p.at > 9_985),
    20_400,
    1000,
    10_005,
  );
  assert.deepEqual(
    [...played(first), ...played(second)],
    Array.from({ length: 1000 }, (_, n) => n),
    'every frame once, in order',
  );
  assert.equal(jb.stats.lost, 0);
  assert.equal(jb.stats.late, 0);
  assert.ok(
    jb.stats.concealed <= concealedFirst + 10,
    `concealed ${jb.stats.concealed} after ${concealedFirst} (only the end of the stream)`,
  );
  // Bursts of the second half came within the delay: no concealment between the first and last frame.
  const s = second.indexOf(played(second)[0]!);
  const e = second.lastIndexOf(999);
  assert.equal(second.slice(s, e).filter((x) => x === 'lost').length, 0);
});

test('JitterBuffer shrinks its delay again once the jitter is gone', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  const arrivals = stream(1000, (n) => (n < 100 ? n * 20 + (n % 10 === 0 ? 150 : 0) : n * 20));
  const buf = new Uint8Array(1500);
  let i = 0;
  let depthLate = 0;
  for (let now = 5; now <= 20_000; now += 20) {
    while (i < arrivals.length && arrivals[i]!.at <= now) {
      const p = arrivals[i++]!;
      jb.put(p.seq, p.ts, Uint8Array.of(1), p.at);
    }
    jb.get(buf, now);
    if (now > 19_000) depthLate = Math.max(depthLate, jb.depth);
  }
  assert.ok(jb.stats.discarded > 0, 'frames were dropped to shrink the delay');
  assert.ok(depthLate <= 3, `depth at the end ${depthLate} frames`);
  assert.equal(jb.targetDelayMs, 20);
});

test('JitterBuffer handles sequence (16-bit) and timestamp (32-bit) wraparound', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  const seqBase = 65_500;
  const arrivals = stream(100, (n) => n * 20 + (n % 3) * 5, seqBase, 0xffff_f000);
  const out = run(jb, arrivals, 2200, seqBase);
  assert.deepEqual(
    played(out),
    Array.from({ length: 100 }, (_, n) => n),
  );
  assert.equal(jb.stats.resets, 0);
  assert.equal(jb.stats.lost, 0);
});

test('JitterBuffer counts duplicates and late packets and never plays them twice', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  const base = stream(60, (n) => n * 20);
  const extra: Arrival[] = [
    { ...base[5]!, at: 100 + 1 }, // duplicate while buffered
    { ...base[3]!, at: 400 }, // duplicate long after being played
  ];
  // Packet 40 arrives 300 ms late: lost in its slot, then counted late.
  const arrivals = [...base.filter((p) => frameNo(p, 1000) !== 40), ...extra, { ...base[40]!, at: 1100 }].sort(
    (a, b) => a.at - b.at,
  );
  const out = run(jb, arrivals, 1400);
  assert.deepEqual(
    played(out),
    Array.from({ length: 60 }, (_, n) => n).filter((n) => n !== 40),
  );
  assert.equal(jb.stats.duplicates, 2);
  assert.equal(jb.stats.late, 1);
  assert.equal(jb.stats.lost, 1);
});

test('JitterBuffer answers JB_EMPTY when the sender pauses (DTX) and resumes after the gap', () => {
  const jb = new JitterBuffer({ clockRate: 8000 });
  // 20 packets, 1 s of silence (no packets, timestamps jump), 20 more.
  const a = stream(20, (n) => n * 20);
  const b = stream(20, (n) => 1400 + n * 20, 1020, 50_000 + 160 * 70);
  const out = run(jb, [...a, ...b], 2400);
  assert.deepEqual(
    played(out),
    Array.from({ length: 40 }, (_, n) => n),
  );
  assert.ok(out.filter((x) => x === 'empty').length > 30, 'silence during the pause');
  assert.ok(out.filter((x) => x === 'lost').length <= 10, 'bounded concealment at the pause and at the end');
});

test('JitterBuffer restarts on a sequence jump beyond its ring (a new sender)', () => {
  const jb = new JitterBuffer({ clockRate: 8000, capacity: 16 });
  const a = stream(10, (n) => n * 20);
  const b = stream(10, (n) => 200 + n * 20, 30_000, 9_999);
  const out = run(jb, [...a, ...b], 600, 0);
  assert.equal(jb.stats.resets, 1);
  // The frame still buffered from the old stream is dropped by the restart, the new one plays whole.
  assert.ok(played(out).length >= 19, `played ${played(out).length}`);
  assert.equal(out.at(-1), 'empty');
});

test('JitterBuffer target delay stays within [20, 200] ms whatever the jitter (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 20, maxLength: 200 }), (delays) => {
      const jb = new JitterBuffer({ clockRate: 8000 });
      const arrivals = stream(delays.length, (n) => n * 20 + delays[n]!);
      const buf = new Uint8Array(1500);
      let i = 0;
      for (let now = 0; now < delays.length * 20 + 1200; now += 20) {
        while (i < arrivals.length && arrivals[i]!.at <= now) {
          const p = arrivals[i++]!;
          jb.put(p.seq, p.ts, Uint8Array.of(1, 2), p.at);
          if (jb.targetDelayMs < 20 || jb.targetDelayMs > 200) return false;
        }
        jb.get(buf, now);
        if (jb.depth * 20 > 200 + 40 + 1000) return false;
      }
      return true;
    }),
    { numRuns: 100 },
  );
});

test('JitterBuffer.put() refuses payloads larger than its slots', () => {
  const jb = new JitterBuffer({ clockRate: 8000, maxPayload: 4 });
  assert.equal(jb.put(1, 160, new Uint8Array(5), 0), false);
  assert.equal(jb.stats.discarded, 1);
  assert.throws(() => new JitterBuffer({ clockRate: 8000, capacity: 48 }), RangeError);
});
