import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BotAudioQueue } from '../../../../src/media/engines/stream/BotAudioQueue.ts';

const ramp = (n: number, from = 1): Int16Array => Int16Array.from({ length: n }, (_, i) => from + i);

test('BotAudioQueue plays what was queued frame by frame, then silence; a mark is acknowledged on the tick after its audio went out', () => {
  const marks: string[] = [];
  const q = new BotAudioQueue(8000, 8000, (m) => marks.push(m));
  q.push(ramp(400));
  q.mark('end');
  const out = new Int16Array(160);
  assert.equal(q.fill(out, 0), 160);
  assert.deepEqual([...out.subarray(0, 3)], [1, 2, 3]);
  q.fill(out, 20);
  assert.deepEqual(marks, []);
  q.fill(out, 40); // the last 80 samples, then silence
  assert.equal(out[79], 400);
  assert.equal(out[80], 0);
  assert.deepEqual(marks, [], 'not yet: the frame holding its last samples is only now being sent');
  q.fill(out, 60);
  assert.deepEqual(marks, ['end']);
  assert.equal(q.stats.playedSamples, 400);
});

test('BotAudioQueue.clear() drops the queue at once and acknowledges every pending mark', () => {
  const marks: string[] = [];
  const q = new BotAudioQueue(8000, 80000, (m) => marks.push(m));
  q.push(ramp(8000));
  q.mark('a');
  q.push(ramp(8000));
  q.mark('b');
  q.fill(new Int16Array(160), 0);
  q.clear();
  assert.deepEqual(marks, ['a', 'b']);
  assert.equal(q.queued, 0);
  const out = new Int16Array(160).fill(7);
  q.fill(out, 20);
  assert.ok(out.every((s) => s === 0));
});

test('BotAudioQueue is bounded: what does not fit is dropped and counted', () => {
  const q = new BotAudioQueue(8000, 1600, () => undefined);
  assert.equal(q.push(ramp(1000)), 1000);
  assert.equal(q.push(ramp(1000)), 600);
  assert.equal(q.push(ramp(10)), 0);
  assert.equal(q.stats.overruns, 2);
  assert.equal(q.stats.overrunSamples, 410);
  assert.equal(q.queued, 1600);
});

test('BotAudioQueue drops the audio of ticks the clock skipped, so a real-time bot does not fall behind for good', () => {
  const q = new BotAudioQueue(8000, 80000, () => undefined);
  q.push(ramp(1600));
  const out = new Int16Array(160);
  q.fill(out, 0);
  q.fill(out, 20);
  // the clock skipped 100 ms (5 ticks): the next frame is what would be playing now
  q.fill(out, 140);
  assert.equal(q.stats.skippedSamples, 800);
  assert.equal(out[0], 320 + 800 + 1);
  // catch-up ticks (20 ms apart) drop nothing
  q.fill(out, 160);
  assert.equal(q.stats.skippedSamples, 800);
});
