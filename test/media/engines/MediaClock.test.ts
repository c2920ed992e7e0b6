import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaClock, type Clocked } from '../../../src/media/engines/MediaClock.ts';

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('MediaClock keeps one timer when the last subscriber hands over to a new one inside a tick', async (t) => {
  const clock = new MediaClock();
  t.after(() => clock.close());
  const before = activeTimeouts();
  let ticked!: () => void;
  const handedOver = new Promise<void>((resolve) => {
    ticked = resolve;
  });
  const next: Clocked = { onTick: () => {} };
  // A player ending and the next one starting from its onEnded callback, in the same tick.
  const first: Clocked = {
    onTick: () => {
      clock.delete(first);
      clock.add(next);
      ticked();
    },
  };
  clock.add(first);
  await handedOver;
  assert.equal(clock.size, 1);
  assert.equal(activeTimeouts() - before, 1, 'one pending timer for the clock');
  clock.delete(next);
  assert.equal(activeTimeouts() - before, 0, 'no timer left once nothing subscribes');
});

test('MediaClock.lateHistogram() stays cumulative across resetLateness() windows', async (t) => {
  const clock = new MediaClock();
  t.after(() => clock.close());
  const counted = async (n: number) => {
    const start = clock.ticks;
    await new Promise<void>((resolve) => {
      const c: Clocked = {
        onTick: () => {
          if (clock.ticks - start >= n) {
            clock.delete(c);
            resolve();
          }
        },
      };
      clock.add(c);
    });
  };
  await counted(3);
  const first = clock.lateHistogram();
  assert.equal(first.count, clock.ticks);
  clock.resetLateness();
  assert.deepEqual(clock.lateHistogram().counts, first.counts, 'a new window keeps what the histogram counted');
  await counted(3);
  const second = clock.lateHistogram();
  assert.equal(second.count, clock.ticks);
  assert.deepEqual(second.boundsMs, [0.5, 1, 2, 5, 10, 20, 50, 100]);
  for (let i = 0; i < second.counts.length; i++) {
    assert.ok(second.counts[i]! >= first.counts[i]!, 'counts only grow');
    if (i > 0) assert.ok(second.counts[i]! >= second.counts[i - 1]!, 'cumulative over buckets');
  }
  assert.ok(second.counts.at(-1)! <= second.count);
  // the worst tick this window sits at or below the first bucket bound above it
  const max = clock.lateMax;
  const bucket = second.boundsMs.findIndex((b) => b >= max + 0.1);
  if (bucket >= 0) assert.equal(second.counts[bucket]! - first.counts[bucket]!, clock.ticks - first.count);
  assert.ok(second.sumMs >= first.sumMs);
});
