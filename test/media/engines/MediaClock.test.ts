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
  const handedOver = new Promise<void>((resolve) => { ticked = resolve; });
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
