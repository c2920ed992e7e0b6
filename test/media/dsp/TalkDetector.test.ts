import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { frameDbfs, TalkDetector } from '../../../src/media/dsp/TalkDetector.ts';

/** Feeds `levels` (dBFS, one per 20 ms frame); returns the frame indexes where it flipped. */
function run(d: TalkDetector, levels: number[]): number[] {
  const flips: number[] = [];
  levels.forEach((db, i) => {
    if (d.update(db, 20)) flips.push(i);
  });
  return flips;
}

const repeat = (db: number, n: number): number[] => Array.from({ length: n }, () => db);

test('frameDbfs() gives -3 dBFS for a full-scale sine, -100 for zeros, and scales with amplitude', () => {
  const sine = new Int16Array(160);
  for (let i = 0; i < 160; i++) sine[i] = Math.round(32767 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
  assert.ok(Math.abs(frameDbfs(sine) - -3.01) < 0.05);
  assert.equal(frameDbfs(new Int16Array(160)), -100);
  const half = sine.map((v) => Math.round(v / 10));
  assert.ok(Math.abs(frameDbfs(half) - (frameDbfs(sine) - 20)) < 0.05);
});

test('TalkDetector starts after the attack time of loud frames and stops after the release time of silence', () => {
  const d = new TalkDetector({ startDbfs: -35, stopDbfs: -45, attackMs: 60, releaseMs: 200 });
  const flips = run(d, [...repeat(-80, 10), ...repeat(-20, 25), ...repeat(-80, 20)]);
  // Loud from frame 10: talking reported at the end of its third loud frame (60 ms).
  // Silent from frame 35: stopped at the end of the tenth silent frame (200 ms).
  assert.deepEqual(flips, [12, 44]);
  assert.equal(d.onsetMs, 200);
  assert.equal(d.talkMs, 500);
  assert.equal(d.talking, false);
});

test('TalkDetector ignores loud bursts shorter than the attack and pauses shorter than the release', () => {
  const d = new TalkDetector({ attackMs: 100, releaseMs: 300 });
  // A 60 ms click is not talk.
  assert.deepEqual(run(d, [...repeat(-80, 5), ...repeat(-10, 3), ...repeat(-80, 5)]), []);
  // Talk with a 200 ms pause between words stays one talk.
  const flips = run(d, [...repeat(-20, 10), ...repeat(-80, 10), ...repeat(-20, 10), ...repeat(-80, 20)]);
  assert.equal(flips.length, 2);
  assert.equal(d.talkMs, 30 * 20);
});

test('TalkDetector: a level between the thresholds neither starts nor ends talk (hysteresis)', () => {
  const d = new TalkDetector({ startDbfs: -35, stopDbfs: -45, attackMs: 40, releaseMs: 100 });
  assert.deepEqual(run(d, repeat(-40, 50)), []);
  run(d, repeat(-20, 5));
  assert.equal(d.talking, true);
  assert.deepEqual(run(d, repeat(-40, 50)), []);
  assert.equal(d.talking, true);
});

test('TalkDetector never flips twice in a row the same way and reports a non-negative length (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -100, max: 0 }), { maxLength: 300 }), (levels) => {
      const d = new TalkDetector();
      let state = false;
      for (const db of levels) {
        if (d.update(db, 20)) {
          assert.notEqual(d.talking, state);
          state = d.talking;
        }
        assert.ok(d.talkMs >= 0);
      }
    }),
  );
});
