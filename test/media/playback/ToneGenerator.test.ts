import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToneSpec, ToneGenerator } from '../../../src/media/playback/ToneGenerator.ts';
import { rms, toneShare } from '../../helpers/audio.ts';

function render(spec: string, rate: number, seconds: number): Int16Array {
  const g = new ToneGenerator(parseToneSpec(spec), rate);
  const out = new Int16Array(Math.round(rate * seconds));
  const frame = rate / 50;
  let off = 0;
  while (off < out.length) {
    const n = g.generate(out, off, Math.min(frame, out.length - off));
    if (n === 0) break;
    off += n;
  }
  return out.subarray(0, off);
}

test('ToneGenerator makes the US ring cadence: 440+480 Hz, 2 s on, 4 s off', () => {
  const pcm = render('ring', 8000, 7);
  assert.equal(pcm.length, 56000, 'ring is unbounded: it fills all it is asked for');
  assert.ok(toneShare(pcm, 8000, 440, 0, 16000) > 0.45);
  assert.ok(toneShare(pcm, 8000, 480, 0, 16000) > 0.45);
  assert.ok(rms(pcm, 0, 16000) > 4000);
  assert.equal(rms(pcm, 16000, 48000), 0);
  assert.ok(rms(pcm, 48000, 56000) > 4000, 'the second ring starts at 6 s');
});

test('ToneGenerator ends a timed tone exactly, and beep lasts 250 ms', () => {
  assert.equal(render('440:1000', 16000, 5).length, 16000);
  assert.equal(render('beep', 48000, 5).length, 12000);
  const dial = render('dial:100', 48000, 1);
  assert.ok(toneShare(dial, 48000, 350) > 0.45 && toneShare(dial, 48000, 440) > 0.45);
});

test('ToneGenerator keeps a dual tone below full scale and stays in tune for an hour-long tone', () => {
  const g = new ToneGenerator(parseToneSpec('1000'), 8000);
  const frame = new Int16Array(160);
  for (let i = 0; i < 180_000; i++) g.generate(frame, 0, 160); // one hour of 20 ms frames
  assert.ok(toneShare(frame, 8000, 1000) > 0.95);
  const loud = render('480+620', 8000, 1);
  const peak = loud.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(peak < 32767 && peak > 10000, `peak ${peak}`);
});
