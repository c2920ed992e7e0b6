import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ValidationError } from '../../../src/common/errors.ts';
import { DtmfDetector } from '../../../src/media/dtmf/DtmfDetector.ts';
import { dbm0ToAmplitude, dtmfFrequencies, DtmfGenerator } from '../../../src/media/dtmf/DtmfGenerator.ts';
import { tempDir, writeWav } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

const run = promisify(execFile);
const ALL = '0123456789*#ABCD';

/** Digits GStreamer's spandsp-based dtmfdetect reports for a WAV file (one message per press). */
async function gstDigits(file: string): Promise<string> {
  const { stdout } = await run('gst-launch-1.0', [
    '-m',
    'filesrc',
    `location=${file}`,
    '!',
    'wavparse',
    '!',
    'audioconvert',
    '!',
    'audioresample',
    '!',
    'audio/x-raw,rate=8000,format=S16LE,channels=1',
    '!',
    'dtmfdetect',
    '!',
    'fakesink',
  ]);
  // "dtmf-event, type=(int)1, number=(int)11, method=(int)2": number is the RFC 4733 event code.
  const codes = [...stdout.matchAll(/dtmf-event, type=\(int\)1, number=\(int\)(\d+)/g)].map((m) => Number(m[1]));
  return codes.map((c) => ALL[c] ?? '?').join('');
}

test(
  'DtmfGenerator output is decoded by GStreamer dtmfdetect (spandsp) at 8, 16 and 48 kHz',
  needs('gst-launch-1.0', 'gst-spandsp'),
  async (t) => {
    const dir = tempDir(t, 'dtmf-gst-');
    for (const sampleRate of [8000, 16000, 48000]) {
      const file = join(dir, `digits-${sampleRate}.wav`);
      writeWav(file, DtmfGenerator.toneFor(ALL + '5551', { sampleRate, durationMs: 70, pauseMs: 60 }), sampleRate);
      assert.equal(await gstDigits(file), ALL + '5551', `${sampleRate} Hz`);
    }
  },
);

test('DtmfGenerator tones are at the requested dBm0 level per tone', () => {
  for (const level of [-10, -20, -3]) {
    const pcm = DtmfGenerator.toneFor('8', { durationMs: 500, pauseMs: 0, rampMs: 0, levelDbm0: level });
    let sum = 0;
    for (const x of pcm) sum += x * x;
    // Two equal tones: total power is twice one tone's A^2 / 2.
    const amp = dbm0ToAmplitude(level);
    const dbErr = 10 * Math.log10(sum / pcm.length / (amp * amp));
    assert.ok(Math.abs(dbErr) < 0.05, `${level} dBm0: off by ${dbErr.toFixed(3)} dB`);
  }
  // G.711: 0 dBm0 is 3.17 dB below a full-scale sine.
  assert.ok(Math.abs(dbm0ToAmplitude(3.17) - 32767) < 1e-9);
});

test('DtmfGenerator.fill() streamed in 20 ms frames equals toneFor() and then writes silence', () => {
  const options = { sampleRate: 16000, durationMs: 90, pauseMs: 45 };
  const whole = DtmfGenerator.toneFor('7#', options);
  const gen = new DtmfGenerator(options);
  gen.queue('7#');
  const frame = new Int16Array(320);
  const streamed: number[] = [];
  while (gen.busy) {
    const n = gen.fill(frame);
    streamed.push(...frame.subarray(0, n));
    assert.ok(
      frame.subarray(n).every((x) => x === 0),
      'the rest of the frame is silence',
    );
  }
  assert.deepEqual(Int16Array.from(streamed), whole);
  assert.equal(gen.fill(frame), 0);
});

test('DtmfGenerator tones are found again by our detector with the right durations', () => {
  const events: { digit: string; durationMs: number }[] = [];
  const det = new DtmfDetector({ onDigit: (e) => events.push(e) });
  det.process(DtmfGenerator.toneFor(ALL, { durationMs: 120, pauseMs: 80 }));
  det.flush();
  assert.equal(events.map((e) => e.digit).join(''), ALL);
  for (const e of events) assert.ok(Math.abs(e.durationMs - 120) <= 13, `${e.digit}: ${e.durationMs} ms`);
});

test('DtmfGenerator rejects non-DTMF characters and levels that would clip', () => {
  const gen = new DtmfGenerator();
  assert.throws(() => gen.queue('12E'), ValidationError);
  assert.equal(gen.busy, false);
  assert.throws(() => new DtmfGenerator({ levelDbm0: 0 }), ValidationError);
  assert.deepEqual(dtmfFrequencies('d'), [941, 1633]);
  assert.equal(dtmfFrequencies('x'), undefined);
});
