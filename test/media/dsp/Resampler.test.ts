import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resampler, resample, outputLength } from '../../../src/media/dsp/Resampler.ts';

const RATES = [8000, 16000, 48000];
const PAIRS: Array<[number, number]> = [];
for (const a of RATES) for (const b of RATES) if (a !== b) PAIRS.push([a, b]);

function sine(freq: number, rate: number, n: number, amp = 10000): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return x;
}
function rms(x: Int16Array, from: number, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! ** 2;
  return Math.sqrt(s / (to - from));
}

test('Resampler passes a 1 kHz sine with < 0.5 dB loss and > 70 dB SNR at every pair of rates', () => {
  for (const [from, to] of PAIRS) {
    const r = new Resampler(from, to);
    const x = sine(1000, from, from / 2);
    const y = new Int16Array(outputLength(x.length, from, to));
    assert.equal(r.process(x, y), y.length);
    // Compare with the ideal sine delayed by the documented group delay.
    let sig = 0;
    let err = 0;
    let pow = 0;
    for (let n = r.delay + to / 100; n < y.length; n++) {
      const ideal = 10000 * Math.sin((2 * Math.PI * 1000 * (n - r.delay)) / to);
      sig += ideal * ideal;
      err += (y[n]! - ideal) ** 2;
      pow += y[n]! ** 2;
    }
    const lossDb = Math.abs(10 * Math.log10(pow / sig));
    const snrDb = 10 * Math.log10(sig / err);
    assert.ok(lossDb < 0.5, `${from}->${to}: loss ${lossDb} dB`);
    assert.ok(snrDb > 70, `${from}->${to}: SNR ${snrDb.toFixed(1)} dB`); // measured 76-103 dB
    assert.ok(Math.abs(r.delay / to - 0.005) < 0.0026, `${from}->${to}: delay ${r.delay}`);
  }
});

test('Resampler attenuates a tone above the target Nyquist by at least 60 dB', () => {
  const cases: Array<[number, number, number]> = [
    [16000, 8000, 6000],
    [48000, 8000, 6000],
    [48000, 8000, 20000],
    [48000, 16000, 9000],
    [48000, 16000, 15000],
  ];
  for (const [from, to, freq] of cases) {
    const x = sine(freq, from, from / 2);
    const y = resample(x, from, to);
    const att = 20 * Math.log10(rms(x, 0) / rms(y, to / 50));
    assert.ok(att >= 60, `${freq} Hz ${from}->${to}: ${att.toFixed(1)} dB`);
  }
});

test('Resampler keeps images of an upsampled 3.4 kHz tone at least 60 dB down', () => {
  for (const to of [16000, 48000]) {
    const r = new Resampler(8000, to);
    const y = resample(sine(3400, 8000, 4000), 8000, to);
    let sig = 0;
    let err = 0;
    for (let n = r.delay + to / 100; n < y.length; n++) {
      const ideal = 10000 * Math.sin((2 * Math.PI * 3400 * (n - r.delay)) / to);
      sig += ideal * ideal;
      err += (y[n]! - ideal) ** 2;
    }
    assert.ok(10 * Math.log10(sig / err) > 60, `8000->${to}`);
  }
});

test('Resampler.process() frame by frame equals resample() on the whole buffer', () => {
  for (const [from, to] of PAIRS) {
    // Noise-like input so any splice error shows.
    const x = new Int16Array(from / 2);
    let seed = 3;
    for (let i = 0; i < x.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      x[i] = (seed >> 15) - 32768;
    }
    const whole = resample(x, from, to);
    for (const frame of [from / 50, 7]) {
      const r = new Resampler(from, to);
      const got = new Int16Array(whole.length);
      const tmp = new Int16Array(Math.ceil((frame * to) / from) + 1);
      let w = 0;
      for (let off = 0; off < x.length; off += frame) {
        const n = r.process(x.subarray(off, Math.min(x.length, off + frame)), tmp);
        got.set(tmp.subarray(0, n), w);
        w += n;
      }
      assert.equal(w, whole.length, `${from}->${to} frame ${frame}`);
      assert.deepEqual(got, whole, `${from}->${to} frame ${frame}`);
    }
  }
});

test('Resampler.process() writes exactly outputLength() samples per 20 ms frame', () => {
  for (const [from, to] of PAIRS) {
    const r = new Resampler(from, to);
    const out = new Int16Array(to / 50);
    for (let k = 0; k < 5; k++) assert.equal(r.process(new Int16Array(from / 50), out), to / 50);
  }
});

test('Resampler.reset() forgets history; same-rate is a copy; bad rates throw', () => {
  const r = new Resampler(8000, 48000);
  const x = sine(440, 8000, 160);
  const a = new Int16Array(960);
  const b = new Int16Array(960);
  r.process(x, a);
  r.process(x, b);
  assert.notDeepEqual(a, b);
  r.reset();
  r.process(x, b);
  assert.deepEqual(a, b);
  const same = new Resampler(16000, 16000);
  const c = new Int16Array(160);
  assert.equal(same.process(x, c), 160);
  assert.deepEqual(c, x);
  assert.deepEqual(resample(x, 8000, 8000), x);
  assert.throws(() => new Resampler(8000, 44100), RangeError);
  assert.throws(() => outputLength(10, 11025, 8000), RangeError);
});
