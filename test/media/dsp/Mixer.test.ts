import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Mixer, type MixerChannel } from '../../../src/media/dsp/Mixer.ts';
import { toneAmplitude as tone } from '../../helpers/audio.ts';

const N = 160;
const RATE = 8000;

function sineInto(out: Int16Array, freq: number, amp: number, frame: number): void {
  for (let i = 0; i < out.length; i++)
    out[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * (frame * out.length + i)) / RATE));
}

function feed(mixer: Mixer, chans: MixerChannel[], freqs: number[], amp: number, frame: number): void {
  chans.forEach((ch, i) => {
    sineInto(ch.input, freqs[i]!, amp, frame);
    ch.hasInput = true;
  });
  mixer.mix();
}

// Frequencies that fall on Goertzel bins of a 160-sample frame (multiples of 50 Hz).
const FREQS = [400, 700, 1100, 1500, 1900];

test('Mixer.mix() gives each participant the others and not itself', () => {
  const mixer = new Mixer({ frameSamples: N });
  const chans = [mixer.add(), mixer.add(), mixer.add()];
  feed(mixer, chans, FREQS, 8000, 0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const level = tone(chans[i]!.output, FREQS[j]!);
      if (i === j) assert.ok(level < 1, `participant ${i} hears itself at ${level}`);
      else assert.ok(Math.abs(level - 8000) < 5, `participant ${i} hears ${j} at ${level}`);
    }
  }
});

test('Mixer keeps a voice at its level as people join (no divide-by-N)', () => {
  const mixer = new Mixer({ frameSamples: N });
  const a = mixer.add();
  const b = mixer.add();
  feed(mixer, [a, b], FREQS, 6000, 0);
  const before = tone(b.output, FREQS[0]!);
  const c = mixer.add();
  const d = mixer.add();
  feed(mixer, [a, b, c, d], FREQS, 6000, 1);
  const after = tone(b.output, FREQS[0]!);
  assert.ok(Math.abs(before - 6000) < 5, `before ${before}`);
  assert.ok(Math.abs(after - before) < 5, `level changed from ${before} to ${after} when two joined`);
});

test('Mixer limiter bounds the sum of loud inputs to 16 bits (property) and leaves quiet sums untouched', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 2, maxLength: 12 }), (levels) => {
      const mixer = new Mixer({ frameSamples: 4 });
      const chans = levels.map(() => mixer.add());
      chans.forEach((ch, i) => {
        ch.input.fill(levels[i]!);
        ch.hasInput = true;
      });
      mixer.mix();
      const sum = levels.reduce((s, v) => s + v, 0);
      for (let i = 0; i < chans.length; i++) {
        const expected = sum - levels[i]!;
        const got = chans[i]!.output[0]!;
        if (got > 32767 || got < -32768) return false;
        if (Math.abs(expected) <= 24575 && got !== expected) return false; // below the knee: exact
        if (Math.sign(got) !== Math.sign(expected)) return false;
        if (Math.abs(got) > Math.abs(expected)) return false; // never louder
      }
      return true;
    }),
    { numRuns: 300 },
  );
  const mixer = new Mixer({ frameSamples: N });
  const chans = [mixer.add(), mixer.add(), mixer.add(), mixer.add()];
  feed(mixer, chans, FREQS, 30000, 0);
  assert.equal(mixer.limitedFrames, 1);
  for (const ch of chans) for (const v of ch.output) assert.ok(v <= 32767 && v >= -32767);
});

test('Mixer: a muted participant is not mixed in but still hears; a deaf one hears silence', () => {
  const mixer = new Mixer({ frameSamples: N });
  const chans = [mixer.add(), mixer.add(), mixer.add()];
  chans[0]!.muted = true;
  chans[1]!.deaf = true;
  feed(mixer, chans, FREQS, 8000, 0);
  assert.ok(tone(chans[2]!.output, FREQS[0]!) < 1, 'muted one not heard');
  assert.ok(tone(chans[2]!.output, FREQS[1]!) > 7990, 'deaf one still heard');
  assert.ok(
    tone(chans[0]!.output, FREQS[1]!) > 7990 && tone(chans[0]!.output, FREQS[2]!) > 7990,
    'muted one hears the others',
  );
  assert.ok(
    chans[1]!.output.every((v) => v === 0),
    'deaf one hears nothing',
  );
});

test('Mixer applies input and output gain in dB', () => {
  const mixer = new Mixer({ frameSamples: N });
  const a = mixer.add();
  const b = mixer.add();
  a.setInputGainDb(-6);
  feed(mixer, [a, b], FREQS, 8000, 0);
  assert.ok(Math.abs(tone(b.output, FREQS[0]!) - 8000 * 10 ** (-6 / 20)) < 5);
  a.setInputGainDb(0);
  b.setOutputGainDb(6);
  feed(mixer, [a, b], FREQS, 8000, 1);
  assert.ok(Math.abs(tone(b.output, FREQS[0]!) - 8000 * 10 ** (6 / 20)) < 5);
});

test('Mixer with loudestTalkers mixes only the N loudest', () => {
  const mixer = new Mixer({ frameSamples: N, loudestTalkers: 2 });
  const chans = FREQS.map(() => mixer.add());
  const amps = [1000, 9000, 3000, 7000, 500];
  for (let f = 0; f < 5; f++) {
    chans.forEach((ch, i) => {
      sineInto(ch.input, FREQS[i]!, amps[i]!, f);
      ch.hasInput = true;
    });
    mixer.mix();
  }
  const heard = chans.map((c) => c.mixed);
  assert.deepEqual(heard, [false, true, false, true, false]);
  // A listener outside the top two hears exactly those two.
  const out = chans[0]!.output;
  assert.ok(tone(out, FREQS[1]!) > 8990 && tone(out, FREQS[3]!) > 6990);
  assert.ok(tone(out, FREQS[2]!) < 1 && tone(out, FREQS[4]!) < 1);
  // A source (announcement) is always mixed, beyond N.
  const src = mixer.add({ source: true });
  sineInto(src.input, 300, 100, 0);
  src.hasInput = true;
  chans.forEach((ch, i) => {
    sineInto(ch.input, FREQS[i]!, amps[i]!, 5);
    ch.hasInput = true;
  });
  mixer.mix();
  assert.ok(src.mixed && tone(chans[0]!.output, 300) > 99);
});

test('Mixer talker detection has attack, release and hysteresis', () => {
  const mixer = new Mixer({ frameSamples: N, attackMs: 60, releaseMs: 200, talkStartDbfs: -35, talkStopDbfs: -45 });
  const ch = mixer.add();
  const flips: Array<[number, boolean]> = [];
  // dBFS of a sine of amplitude A: 20 log10(A / 32768 / sqrt 2).
  const ampFor = (db: number): number => 32768 * Math.SQRT2 * 10 ** (db / 20);
  const script: number[] = [
    ...Array(2).fill(-20), // a 40 ms click: shorter than the attack
    ...Array(5).fill(-90),
    ...Array(10).fill(-20), // speech: starts after 3 frames
    ...Array(20).fill(-40), // between thresholds: keeps talking
    ...Array(9).fill(-60), // below stop for 180 ms: not yet
    -20,
    ...Array(12).fill(-60), // 240 ms below stop: stops after 10 frames
  ];
  script.forEach((db, f) => {
    sineInto(ch.input, 500, ampFor(db), f);
    ch.hasInput = true;
    mixer.mix();
    if (ch.talkChanged) flips.push([f, ch.talking]);
  });
  assert.deepEqual(flips, [
    [9, true],
    [56, false],
  ]);
});

test('Mixer.fullMix holds everyone (for a recorder) and removed channels drop out', () => {
  const mixer = new Mixer({ frameSamples: N });
  const chans = [mixer.add(), mixer.add()];
  feed(mixer, chans, FREQS, 5000, 0);
  assert.ok(tone(mixer.fullMix, FREQS[0]!) > 4990 && tone(mixer.fullMix, FREQS[1]!) > 4990);
  mixer.remove(chans[0]!);
  chans[1]!.hasInput = true;
  mixer.mix();
  assert.equal(mixer.channels.length, 1);
  assert.ok(tone(mixer.fullMix, FREQS[0]!) < 1);
});
