import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertRate, convertedLength } from '../../../src/media/playback/convertRate.ts';
import { rms, toneShare } from '../../helpers/audio.ts';

function sine(freq: number, rate: number, seconds: number, amp = 16000): Int16Array {
  const n = Math.round(rate * seconds);
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return a;
}

test('convertRate() keeps a passband tone at its level and frequency (44.1 kHz -> 8 kHz)', () => {
  const out = convertRate(sine(1000, 44100, 1), 44100, 8000);
  assert.equal(out.length, 8000);
  assert.equal(convertedLength(44100, 44100, 8000), 8000);
  const mid = out.subarray(200, 7800);
  assert.ok(toneShare(mid, 8000, 1000) > 0.99);
  assert.ok(Math.abs(rms(mid) - 16000 / Math.SQRT2) < 200, `rms ${rms(mid)}`);
});

test('convertRate() removes content above the new Nyquist instead of aliasing it', () => {
  // 6 kHz at 44.1 kHz would fold to 2 kHz at 8 kHz.
  const out = convertRate(sine(6000, 44100, 1), 44100, 8000);
  const level = 20 * Math.log10(rms(out.subarray(200, 7800)) / (16000 / Math.SQRT2));
  assert.ok(level < -60, `aliased residue at ${level.toFixed(1)} dB`);
});

test('convertRate() upsamples 22.05 kHz TTS output to 48 kHz without images', () => {
  const out = convertRate(sine(440, 22050, 0.5), 22050, 48000);
  assert.equal(out.length, 24000);
  const mid = out.subarray(1000, 23000);
  assert.ok(toneShare(mid, 48000, 440) > 0.99);
  // The image of 440 Hz around 22.05 kHz would appear at 21.61 kHz.
  assert.ok(toneShare(mid, 48000, 21610) < 1e-4);
});

test('convertRate() is zero phase: a click stays where it was in time', () => {
  const input = new Int16Array(4410);
  input[2205] = 20000; // 50 ms
  const out = convertRate(input, 44100, 8000);
  let peakAt = 0;
  for (let i = 1; i < out.length; i++) if (Math.abs(out[i] as number) > Math.abs(out[peakAt] as number)) peakAt = i;
  assert.equal(peakAt, 400);
});
