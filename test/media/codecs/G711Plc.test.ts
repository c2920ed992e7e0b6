import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { GCProfiler } from 'node:v8';
import { G711Plc } from '../../../src/media/codecs/G711Plc.ts';
import { PcmaCodec, PcmuCodec, ulawToLinear } from '../../../src/media/codecs/g711.ts';
import { G722Codec } from '../../../src/media/codecs/g722.ts';
import { L16Codec } from '../../../src/media/codecs/l16.ts';
import type { Codec } from '../../../src/media/codecs/Codec.ts';
import { needs } from '../../helpers/peers.ts';

const SPEECH = '/usr/share/asterisk/sounds/en/demo-congrats.wav';

/**
 * A voiced, speech-like signal: 6 harmonics of f0 with falling amplitude and a slow tremolo.
 * f0 = 137 Hz by default so that 20 ms is not a whole number of periods (at 150 Hz it is exactly
 * three, and plain repetition of the last frame would be perfect, which speech never is).
 */
function voiced(samples: number, rate = 8000, f0 = 137, amp = 6000): Int16Array {
  const x = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    let v = 0;
    for (let h = 1; h <= 6; h++) v += Math.sin(2 * Math.PI * f0 * h * t + h * 0.7) / h;
    x[i] = Math.round(amp * v * (1 + 0.1 * Math.sin(2 * Math.PI * 3 * t)));
  }
  return x;
}

/** Runs `x` through `codec` in 20 ms frames, concealing the frames in `lost`. */
function transmit(codec: Codec, x: Int16Array, lost: ReadonlySet<number>): Int16Array {
  const n = codec.sampleRate / 50;
  const frames = Math.floor(x.length / n);
  const y = new Int16Array(frames * n);
  const payload = new Uint8Array(n * 2);
  const out = new Int16Array(n);
  for (let f = 0; f < frames; f++) {
    if (lost.has(f)) {
      assert.equal(codec.conceal!(out, n), n);
    } else {
      const bytes = codec.encode(x.subarray(f * n, f * n + n), payload);
      assert.equal(codec.decode(payload.subarray(0, bytes), out), n);
    }
    y.set(out, f * n);
  }
  return y;
}

/** SNR in dB of `y` against `ref` over [from, to). Silence scores exactly 0 dB. */
function snrDb(ref: Int16Array, y: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  let e = 0;
  for (let i = from; i < to; i++) {
    s += ref[i]! ** 2;
    e += (ref[i]! - y[i]!) ** 2;
  }
  return 10 * Math.log10(s / e);
}

/** Plain repetition of the previous 20 ms frame (what a receiver without PLC might do). */
function repeated(x: Int16Array, frame: number, lost: ReadonlySet<number>, fade = 1): Float64Array {
  const y = Float64Array.from(x);
  for (const f of [...lost].sort((a, b) => a - b)) {
    for (let i = 0; i < frame; i++) y[f * frame + i] = y[(f - 1) * frame + i]! * fade;
  }
  return y;
}

function rms(y: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += y[i]! ** 2;
  return Math.sqrt(s / (to - from));
}

test('PcmuCodec/PcmaCodec.conceal() rebuild single lost frames of a voiced signal far better than silence or repetition', () => {
  const x = voiced(160 * 60);
  const lost = new Set([10, 25, 40]);
  const rep = repeated(x, 160, lost);
  const fade = repeated(x, 160, lost, 0.5);
  for (const codec of [new PcmuCodec(), new PcmaCodec()]) {
    const y = transmit(codec, x, lost);
    for (const f of lost) {
      const plc = snrDb(x, y, f * 160, f * 160 + 160);
      // Silence is 0 dB by definition; repetition of 2.8 periods is out of phase (negative).
      assert.ok(plc > 8, `${codec.name} frame ${f}: PLC ${plc.toFixed(1)} dB`);
      assert.ok(plc > snrDb(x, rep, f * 160, f * 160 + 160) + 8, `${codec.name} frame ${f}: PLC vs repetition`);
      assert.ok(plc > snrDb(x, fade, f * 160, f * 160 + 160) + 8, `${codec.name} frame ${f}: PLC vs repeat-and-fade`);
      // The good frame after the loss is back to G.711 quality but for the OLA at its start.
      assert.ok(snrDb(x, y, f * 160 + 160, f * 160 + 320) > 18, `${codec.name} frame ${f + 1} after the loss`);
    }
    codec.close();
  }
});

test('G711Plc.conceal() covers 2 and 3 frame bursts closer than silence and fades to silence after 60 ms', () => {
  const x = voiced(160 * 60);
  const lost = new Set([10, 11, 20, 21, 22, 40, 41, 42, 43, 44]);
  const y = transmit(new PcmuCodec(), x, lost);
  for (const start of [10, 20, 40]) {
    assert.ok(snrDb(x, y, start * 160, start * 160 + 160) > 8, `first frame of the burst at ${start}`);
    // 20-40 ms into a loss the signal is 20-40 % down by design: still better than silence.
    assert.ok(snrDb(x, y, start * 160 + 160, start * 160 + 320) > 3, `second frame of the burst at ${start}`);
  }
  assert.ok(snrDb(x, y, 22 * 160, 23 * 160) > 0.5, 'third frame of a 3-frame burst');
  // Linear fade, I.2.5: each 10 ms of the 100 ms burst is quieter than the one before (after the
  // first 10 ms), and from 60 ms on the output is silence.
  const level: number[] = [];
  for (let k = 0; k < 10; k++) level.push(rms(y, 40 * 160 + k * 80, 40 * 160 + k * 80 + 80));
  const orig = rms(x, 40 * 160, 45 * 160);
  assert.ok(level[0]! > 0.8 * orig, `first 10 ms at ${level[0]!.toFixed(0)}, original ${orig.toFixed(0)}`);
  for (let k = 2; k < 6; k++)
    assert.ok(level[k]! < level[k - 1]!, `10 ms step ${k} fades: ${level.map((v) => v.toFixed(0)).join(' ')}`);
  for (let k = 6; k < 10; k++) assert.equal(level[k], 0, `silence after 60 ms (step ${k})`);
  // The first good frame after a silent stretch fades in from silence and is then exact.
  assert.ok(Math.abs(y[45 * 160]!) < 0.2 * Math.abs(x[45 * 160]!) + 200, 'fade-in starts near zero');
  assert.ok(snrDb(x, y, 46 * 160, 47 * 160) > 30, 'the second good frame is untouched');
});

test('G711Plc joins real and concealed audio without a step at frame boundaries', () => {
  const x = voiced(160 * 60);
  const lost = new Set([10, 20, 21, 30, 31, 32, 45, 46, 47, 48, 49, 50]);
  const y = transmit(new PcmuCodec(), x, lost);
  let maxStep = 0;
  for (let i = 1; i < x.length; i++) maxStep = Math.max(maxStep, Math.abs(x[i]! - x[i - 1]!));
  const silenceSteps: number[] = [];
  for (const f of lost) {
    for (const b of [f * 160, f * 160 + 160]) {
      const step = Math.abs(y[b]! - y[b - 1]!);
      assert.ok(step <= 1.25 * maxStep, `step ${step} at sample ${b} (frame ${b / 160}), signal's largest ${maxStep}`);
      silenceSteps.push(Math.abs(x[b - 1]!));
    }
  }
  // Sanity of the bound: concealing with silence would break it at some boundary.
  assert.ok(Math.max(...silenceSteps) > 1.25 * maxStep, 'silence would make a step');
});

test('G711Plc estimates the pitch period from 66 to 200 Hz', () => {
  for (const f0 of [70, 95, 137, 180]) {
    const plc = new G711Plc();
    const x = voiced(800, 8000, f0);
    plc.onGoodFrame(x);
    plc.conceal(new Int16Array(160), 160);
    assert.ok(Math.abs(plc.pitch - 8000 / f0) <= 1, `${f0} Hz: pitch ${plc.pitch}, period ${(8000 / f0).toFixed(1)}`);
  }
  const wide = new G711Plc(16000);
  wide.onGoodFrame(voiced(1600, 16000, 137));
  wide.conceal(new Int16Array(320), 320);
  assert.ok(Math.abs(wide.pitch - 16000 / 137) <= 1, `16 kHz pitch ${wide.pitch}`);
});

test('G711Plc.conceal() gives the same audio whatever the call sizes (5, 10, 20, 30 ms)', () => {
  const x = voiced(2000);
  const whole = new G711Plc();
  whole.onGoodFrame(x);
  const a = new Int16Array(560);
  whole.conceal(a, 560); // 70 ms: every phase of the algorithm
  const parts = new G711Plc();
  parts.onGoodFrame(x);
  const b = new Int16Array(560);
  const tmp = new Int16Array(240);
  let at = 0;
  for (const n of [40, 80, 160, 240, 40]) {
    parts.conceal(tmp, n);
    b.set(tmp.subarray(0, n), at);
    at += n;
  }
  assert.equal(at, 560);
  assert.deepEqual(b, a);
  assert.equal(parts.erasedSamples, 560);
});

test('PcmuCodec.decode() stays bit-exact with G.191 except the fade-in right after a loss', () => {
  const x = voiced(160 * 8);
  const codec = new PcmuCodec();
  const payload = new Uint8Array(160);
  const out = new Int16Array(160);
  for (let f = 0; f < 8; f++) {
    if (f === 4) {
      codec.conceal(out, 160);
      continue;
    }
    codec.encode(x.subarray(f * 160, f * 160 + 160), payload);
    codec.decode(payload, out);
    let changed = 0;
    for (let i = 0; i < 160; i++) if (out[i] !== ulawToLinear(payload[i]!)) changed = i + 1;
    if (f === 5) {
      // OLA over 1/4 pitch period (58 / 4 = 14 samples) plus 4 ms for the second lost 10 ms (I.2.6).
      assert.ok(changed > 14 && changed <= 14 + 32, `first good frame modified up to sample ${changed}`);
    } else {
      assert.equal(changed, 0, `frame ${f} is exact`);
    }
  }
});

test('G722Codec and L16Codec conceal with the rate-scaled G711Plc (16 and 48 kHz)', () => {
  for (const codec of [new G722Codec(), new L16Codec(16000), new L16Codec(48000)] as Codec[]) {
    const rate = codec.sampleRate;
    const frame = rate / 50;
    const x = voiced(frame * 40, rate);
    const lost = new Set([10, 20, 21]);
    const y = transmit(codec, x, lost);
    // G.722 delays its output by the QMF (22 samples); compare against the decoded signal without
    // loss so that only concealment is measured.
    const clean = transmit(codec.name === 'g722' ? new G722Codec() : new L16Codec(rate), x, new Set());
    for (const f of lost) {
      const plc = snrDb(clean, y, f * frame, f * frame + frame);
      assert.ok(plc > (f === 21 ? 3 : 8), `${codec.name}/${rate} frame ${f}: ${plc.toFixed(1)} dB`);
    }
    codec.close?.();
  }
});

test(
  'G711Plc on real speech (single 20 ms losses) beats repetition of the last frame',
  needs('ffmpeg', 'asterisk-sounds'),
  () => {
    const b = execFileSync('ffmpeg', ['-v', 'error', '-i', SPEECH, '-ar', '8000', '-ac', '1', '-f', 's16le', '-'], {
      maxBuffer: 1 << 24,
    });
    const x = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + (b.length & ~1)));
    const frames = Math.floor(x.length / 160);
    const lost = new Set<number>();
    for (let f = 9; f < frames; f += 10) lost.add(f);
    const y = transmit(new PcmuCodec(), x, lost);
    const rep = repeated(x, 160, lost);
    let s = 0;
    let ePlc = 0;
    let eRep = 0;
    let better = 0;
    let voicedFrames = 0;
    for (const f of lost) {
      let fs = 0;
      let fp = 0;
      let fr = 0;
      for (let i = f * 160; i < f * 160 + 160; i++) {
        fs += x[i]! ** 2;
        fp += (x[i]! - y[i]!) ** 2;
        fr += (x[i]! - rep[i]!) ** 2;
      }
      if (fs / 160 < 1e5) continue; // pauses: nothing to conceal
      voicedFrames++;
      s += fs;
      ePlc += fp;
      eRep += fr;
      if (fp < fr) better++;
    }
    const plcDb = 10 * Math.log10(s / ePlc);
    const repDb = 10 * Math.log10(s / eRep);
    assert.ok(voicedFrames > 50, `${voicedFrames} lost frames with speech`);
    assert.ok(plcDb > repDb + 1, `PLC ${plcDb.toFixed(2)} dB, repetition ${repDb.toFixed(2)} dB`);
    assert.ok(better > 0.65 * voicedFrames, `PLC closer in ${better} of ${voicedFrames} frames`);
  },
);

test('G711Plc is allocation-free in steady state (no GC over 10 000 decoded and concealed frames)', () => {
  const codec = new PcmuCodec();
  const x = voiced(160 * 50);
  const payloads: Uint8Array[] = [];
  for (let f = 0; f < 50; f++) {
    const p = new Uint8Array(160);
    codec.encode(x.subarray(f * 160, f * 160 + 160), p);
    payloads.push(p);
  }
  const out = new Int16Array(160);
  const run = (frames: number): void => {
    for (let f = 0; f < frames; f++) {
      // Losses of 1, 2 and 4 frames: every phase (start, extend, fade, silence, OLA after).
      const k = f % 25;
      if (k === 3 || k === 9 || k === 10 || (k >= 15 && k < 19)) codec.conceal(out, 160);
      else codec.decode(payloads[f % 50]!, out);
    }
  };
  run(20000); // warm up the JIT
  // Without a collection in between, heap growth is what the loop allocated: even 16 bytes per
  // frame (one boxed number) would show as 160 kB. A late JIT recompilation can allocate during
  // one round, so the best of a few rounds counts; an allocation per frame shows in every round.
  const rounds: string[] = [];
  for (let r = 0; r < 4; r++) {
    const profiler = new GCProfiler();
    profiler.start();
    const before = process.memoryUsage().heapUsed;
    run(10000);
    const grown = process.memoryUsage().heapUsed - before;
    const gcs = profiler.stop()?.statistics.length ?? 0;
    rounds.push(`${grown} bytes/${gcs} GCs`);
    if (gcs === 0 && grown < 32 * 1024) return;
  }
  assert.fail(`every round of 10 000 frames allocated: ${rounds.join(', ')}`);
});
