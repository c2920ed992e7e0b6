import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ValidationError } from '../../../src/common/errors.ts';
import { DtmfDetector } from '../../../src/media/dtmf/DtmfDetector.ts';
import type { DtmfEvent } from '../../../src/media/dtmf/DtmfEvent.ts';
import { DTMF_COL_HZ, DTMF_KEYPAD, DTMF_ROW_HZ, DtmfGenerator } from '../../../src/media/dtmf/DtmfGenerator.ts';
import { readWav, tempDir } from '../../helpers/audio.ts';
import { soxRaw, soxTone, type SoxTone } from './audioTools.ts';
import { needs } from '../../helpers/peers.ts';

function detect(samples: Int16Array, options: ConstructorParameters<typeof DtmfDetector>[0] = {}): DtmfEvent[] {
  const events: DtmfEvent[] = [];
  const det = new DtmfDetector({ ...options, onDigit: (e) => events.push(e) });
  // Feed 20 ms frames as the media clock would.
  const frame = ((options.sampleRate ?? 8000) / 1000) * 20;
  for (let i = 0; i < samples.length; i += frame) det.process(samples.subarray(i, Math.min(samples.length, i + frame)));
  det.flush();
  return events;
}

const digits = (events: DtmfEvent[]): string => events.map((e) => e.digit).join('');

interface Condition {
  name: string;
  lowDev?: number;
  highDev?: number;
  /** Low group minus high group, dB: positive is "normal" twist (Q.24, spandsp). */
  twistDb?: number;
  levelDbm0?: number;
  durationMs?: number;
  expect: boolean;
}

/** Every one of the 16 keys made by sox under one condition: all detected once, or none at all. */
async function checkAllKeys(dir: string, c: Condition): Promise<void> {
  const level = c.levelDbm0 ?? -10;
  const twist = c.twistDb ?? 0;
  const tones = await Promise.all(
    [...DTMF_KEYPAD].map((_key, k) => {
      const t: SoxTone = {
        lowHz: DTMF_ROW_HZ[k >> 2]! * (1 + (c.lowDev ?? 0)),
        highHz: DTMF_COL_HZ[k & 3]! * (1 + (c.highDev ?? 0)),
        // The stronger tone at `level`, the other `twist` below it.
        lowDbm0: twist >= 0 ? level : level + twist,
        highDbm0: twist >= 0 ? level - twist : level,
        durationMs: c.durationMs ?? 60,
      };
      return soxTone(dir, `${c.name}-${k}`.replace(/[^\w-]/g, '_'), t);
    }),
  );
  const failures: string[] = [];
  for (const [k, samples] of tones.entries()) {
    const got = digits(detect(samples));
    const want = c.expect ? DTMF_KEYPAD[k]! : '';
    if (got !== want) failures.push(`${DTMF_KEYPAD[k]} gave '${got}'`);
  }
  assert.deepEqual(failures, [], `${c.name}: ${c.expect ? 'must be detected' : 'must be rejected'}`);
}

test('DtmfDetector meets the ITU-T Q.24 limits on sox-made tones, all 16 keys', needs('sox'), async (t) => {
  const dir = tempDir(t, 'dtmf-q24-');
  const conditions: Condition[] = [
    { name: 'nominal -10 dBm0', expect: true },
    // Frequency tolerance: operate at +-1.5 %, not at +-3.5 %.
    { name: 'both +1.5%', lowDev: 0.015, highDev: 0.015, expect: true },
    { name: 'both -1.5%', lowDev: -0.015, highDev: -0.015, expect: true },
    { name: 'low +1.5% high -1.5%', lowDev: 0.015, highDev: -0.015, expect: true },
    { name: 'low +3.5%', lowDev: 0.035, expect: false },
    { name: 'low -3.5%', lowDev: -0.035, expect: false },
    { name: 'high +3.5%', highDev: 0.035, expect: false },
    { name: 'high -3.5%', highDev: -0.035, expect: false },
    // Twist: 8 dB normal (low group louder) and 4 dB reverse accepted, beyond rejected.
    { name: 'normal twist 8 dB', twistDb: 8, expect: true },
    { name: 'reverse twist 4 dB', twistDb: -4, expect: true },
    { name: 'normal twist 8 dB at -1.5%', twistDb: 8, lowDev: -0.015, highDev: -0.015, expect: true },
    { name: 'normal twist 10 dB', twistDb: 10, expect: false },
    { name: 'reverse twist 6 dB', twistDb: -6, expect: false },
    // Duration: 40 ms operates, 23 ms does not.
    { name: '40 ms', durationMs: 40, expect: true },
    { name: '23 ms', durationMs: 23, expect: false },
    // Level: 0 dBm0 for the pair (-3 dBm0 per tone, the loudest that fits PCM) down to -36 dBm0 per tone.
    { name: '-3 dBm0 per tone', levelDbm0: -3, expect: true },
    { name: '-36 dBm0 per tone', levelDbm0: -36, expect: true },
    { name: '-36 dBm0 at +1.5%', levelDbm0: -36, lowDev: 0.015, highDev: 0.015, expect: true },
  ];
  for (const c of conditions) await checkAllKeys(dir, c);
});

test('DtmfDetector finds 40 ms tones wherever they fall against its analysis windows', needs('sox'), async (t) => {
  const dir = tempDir(t, 'dtmf-align-');
  // Lead-in from 0 to 6.25 ms in 0.625 ms steps covers every offset against the 51-sample hop.
  const leads = Array.from({ length: 11 }, (_, i) => i * 0.625);
  const tones = await Promise.all(
    leads.flatMap((lead) => [
      soxTone(dir, `on-${lead}`, {
        lowHz: 852,
        highHz: 1477,
        lowDbm0: -10,
        highDbm0: -10,
        durationMs: 40,
        leadMs: lead,
      }),
      soxTone(dir, `off-${lead}`, {
        lowHz: 852,
        highHz: 1477,
        lowDbm0: -10,
        highDbm0: -10,
        durationMs: 23,
        leadMs: lead,
      }),
    ]),
  );
  for (let i = 0; i < tones.length; i += 2) {
    assert.equal(digits(detect(tones[i]!)), '9', `40 ms tone, lead ${leads[i / 2]} ms`);
    assert.equal(digits(detect(tones[i + 1]!)), '', `23 ms tone, lead ${leads[i / 2]} ms`);
  }
});

test('DtmfDetector reports one press per key with a duration, and a repeat only after a pause', () => {
  const pcm = DtmfGenerator.toneFor('1123', { durationMs: 100, pauseMs: 60 });
  const events = detect(pcm);
  assert.equal(digits(events), '1123');
  for (const e of events) {
    assert.equal(e.source, 'inband');
    assert.ok(Math.abs(e.durationMs - 100) <= 13, `duration ${e.durationMs} close to 100 ms`);
  }
  assert.ok(Math.abs(events[1]!.startMs - 160) <= 13, `second press starts near 160 ms, got ${events[1]!.startMs}`);
});

test('DtmfDetector rides over a 10 ms interruption but splits on a 40 ms pause', () => {
  const tone = DtmfGenerator.toneFor('5', { durationMs: 80, pauseMs: 0, rampMs: 0 });
  const withGap = (gapMs: number): Int16Array => {
    const gap = gapMs * 8;
    const out = new Int16Array(tone.length * 2 + gap + 800);
    out.set(tone, 0);
    out.set(tone, tone.length + gap);
    return out;
  };
  assert.equal(digits(detect(withGap(10))), '5', 'Q.24: a 10 ms interruption is not a new digit');
  assert.equal(digits(detect(withGap(40))), '55', 'a 40 ms pause separates two presses');
});

test('DtmfDetector accepts 16 and 48 kHz input, decimating internally', () => {
  for (const sampleRate of [16000, 48000]) {
    const pcm = DtmfGenerator.toneFor('0123456789*#ABCD', { sampleRate, durationMs: 60, pauseMs: 60 });
    assert.equal(digits(detect(pcm, { sampleRate })), '0123456789*#ABCD', `${sampleRate} Hz`);
  }
  assert.throws(() => new DtmfDetector({ sampleRate: 44100 }), ValidationError);
});

test(
  'DtmfDetector reports no digit in real speech (talk-off over the Asterisk prompts)',
  needs('asterisk-sounds'),
  () => {
    const root = '/usr/share/asterisk/sounds/en';
    const files = readdirSync(root)
      .filter((f) => f.endsWith('.wav'))
      .sort();
    assert.ok(files.length >= 150, `expected a broad set of prompts, found ${files.length}`);
    let seconds = 0;
    let windows = 0;
    const falses: string[] = [];
    for (const f of files) {
      const { sampleRate, samples } = readWav(`${root}/${f}`);
      if (sampleRate !== 8000) continue;
      seconds += samples.length / 8000;
      const det = new DtmfDetector({ onDigit: (e) => falses.push(`${f}: ${e.digit}`) });
      det.process(samples);
      det.flush();
      windows += det.stats.windows;
    }
    assert.ok(seconds > 600, `at least 10 minutes of speech, got ${seconds.toFixed(0)} s`);
    assert.ok(windows > 0);
    assert.deepEqual(falses, [], 'no false digits');
  },
);

test('DtmfDetector reports no digit in music-like signals made by sox', needs('sox'), async (t) => {
  const dir = tempDir(t, 'dtmf-music-');
  const chords: Array<[string, string[]]> = [
    ['saw-square chord', ['sawtooth', '130.81', 'square', '164.81', 'triangle', '196', 'sawtooth', '261.63']],
    ['plucked chord', ['pluck', '220', 'pluck', '277.18', 'pluck', '329.63', 'pluck', '440']],
    ['bright chord', ['square', '392', 'sawtooth', '493.88', 'square', '587.33', 'sawtooth', '783.99']],
    ['sweeps', ['sine', '300-3000', 'sine', '3000-300', 'square', '100-800', 'sawtooth', '700-1700']],
  ];
  for (const [name, spec] of chords) {
    const samples = await soxRaw(
      dir,
      name.replace(/\W/g, '_'),
      ['-c', '4', '-r', '48000', '-n'],
      ['synth', '4', ...spec, 'remix', '1v0.15,2v0.15,3v0.15,4v0.15', 'tremolo', '5', '40', 'rate', '8000'],
    );
    assert.equal(digits(detect(samples)), '', name);
  }
});

test('DtmfDetector.process() is allocation-free in steady state (no heap growth over a minute of audio)', () => {
  const det = new DtmfDetector();
  const frame = new Int16Array(160);
  for (let i = 0; i < frame.length; i++) frame[i] = Math.round(3000 * Math.sin(i * 0.3) + 2000 * Math.sin(i * 1.1));
  for (let i = 0; i < 500; i++) det.process(frame); // warm up the JIT
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 3000; i++) det.process(frame);
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 512 * 1024, `heap grew ${grown} bytes over 3000 frames`);
});

/** Per window, what the detector decided: the stats and every event, with and without pre-filters. */
function runBoth(samples: Int16Array): {
  fast: DtmfDetector;
  full: DtmfDetector;
  fastEvents: DtmfEvent[];
  fullEvents: DtmfEvent[];
} {
  const fastEvents: DtmfEvent[] = [];
  const fullEvents: DtmfEvent[] = [];
  const fast = new DtmfDetector({ onDigit: (e) => fastEvents.push(e) });
  const full = new DtmfDetector({ prefilter: false, onDigit: (e) => fullEvents.push(e) });
  for (let i = 0; i < samples.length; i += 160) {
    fast.process(samples.subarray(i, Math.min(samples.length, i + 160)));
    full.process(samples.subarray(i, Math.min(samples.length, i + 160)));
  }
  fast.flush();
  full.flush();
  return { fast, full, fastEvents, fullEvents };
}

test('DtmfDetector pre-filters are exact: the same windows hit and the same presses as the full analysis, on tones at the level and deviation limits, in noise and in speech', () => {
  // Pseudo-random but reproducible noise.
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff - 0.5;
  };
  const parts: Int16Array[] = [];
  const levels = [-45, -43, -42, -41, -36, -20, -3];
  for (const [k, key] of [...DTMF_KEYPAD].entries()) {
    const level = levels[k % levels.length]!;
    const dev = [0, 0.015, -0.015, 0.025, -0.03][k % 5]!;
    const n = 8000 * 0.12;
    const tone = new Int16Array(n + 400);
    const amp = 32768 * Math.pow(10, (level - 3.14) / 20);
    const fr = DTMF_ROW_HZ[k >> 2]! * (1 + dev);
    const fc = DTMF_COL_HZ[k & 3]! * (1 - dev);
    const noise = [0, 60, 300, 1500][k & 3]!;
    for (let i = 0; i < tone.length; i++) {
      const s =
        i < n ? amp * (Math.sin((2 * Math.PI * fr * i) / 8000) + Math.sin((2 * Math.PI * fc * i) / 8000 + k)) : 0;
      tone[i] = Math.max(-32768, Math.min(32767, Math.round(s + noise * rand())));
    }
    void key;
    parts.push(tone);
  }
  const root = '/usr/share/asterisk/sounds/en';
  for (const f of readdirSync(root)
    .filter((x) => x.endsWith('.wav'))
    .sort()
    .slice(0, 40)) {
    const { sampleRate, samples } = readWav(`${root}/${f}`);
    if (sampleRate === 8000) parts.push(samples);
  }
  parts.push(new Int16Array(8000)); // digital silence
  const all = new Int16Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }

  const { fast, full, fastEvents, fullEvents } = runBoth(all);
  assert.deepEqual(fastEvents, fullEvents, 'same presses, same durations and starts');
  assert.equal(fast.stats.hits, full.stats.hits, 'same windows hit');
  assert.equal(fast.stats.windows, full.stats.windows);
  assert.ok(
    fullEvents.length >= 3 && fullEvents.length < 16,
    `the signal holds presses on both sides of the limits (${fullEvents.length})`,
  );
  // And the point of it: most windows skipped the DFTs or the measurement.
  assert.equal(full.stats.analysed, full.stats.windows);
  assert.ok(fast.stats.analysed < full.stats.analysed, `analysed ${fast.stats.analysed} of ${fast.stats.windows}`);
  assert.ok(
    fast.stats.measured < full.stats.measured / 5,
    `measured ${fast.stats.measured} vs ${full.stats.measured} without pre-filters`,
  );
});

test('DtmfDetector: silence and line noise below -50 dBm0 cost no DFT; speech almost never reaches the measurement', () => {
  const det = new DtmfDetector({});
  const quiet = new Int16Array(8000);
  for (let i = 4000; i < quiet.length; i++) quiet[i] = ((i * 7919) % 49) - 24;
  det.process(quiet);
  assert.ok(det.stats.windows > 150);
  assert.equal(det.stats.analysed, 0);
  const { samples } = readWav('/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav');
  det.process(samples);
  assert.ok(det.stats.analysed > 0);
  assert.ok(det.stats.measured <= det.stats.windows / 50, `measured ${det.stats.measured} of ${det.stats.windows}`);
});
