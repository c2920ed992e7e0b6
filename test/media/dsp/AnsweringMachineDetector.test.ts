import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AMD_DEFAULTS, AnsweringMachineDetector } from '../../../src/media/dsp/AnsweringMachineDetector.ts';
import { amdParameterError } from '../../../src/common/amdParameters.ts';

/** A script of segments: ['v', ms] voice (a 300 Hz tone of amplitude 3000), ['s', ms] silence. */
type Segment = readonly ['v' | 's', number];

function render(script: readonly Segment[], rate = 8000, amplitude = 3000): Int16Array {
  const total = script.reduce((n, [, ms]) => n + Math.round((rate * ms) / 1000), 0);
  const out = new Int16Array(total);
  let at = 0;
  for (const [kind, ms] of script) {
    const n = Math.round((rate * ms) / 1000);
    if (kind === 'v')
      for (let i = 0; i < n; i++) out[at + i] = Math.round(amplitude * Math.sin((2 * Math.PI * 300 * (at + i)) / rate));
    at += n;
  }
  return out;
}

/** Feeds `pcm` in packets of `packetMs` (as RTP delivers it) until a decision. */
function run(pcm: Int16Array, rate = 8000, det = new AnsweringMachineDetector(), packetMs = 20) {
  const n = (rate * packetMs) / 1000;
  for (let i = 0; i < pcm.length; i += n) {
    const r = det.feed(pcm.subarray(i, Math.min(pcm.length, i + n)), rate);
    if (r !== null) return { result: r, atMs: ((i + n) * 1000) / rate };
  }
  return { result: det.result, atMs: (pcm.length * 1000) / rate };
}

test('AnsweringMachineDetector defaults are Asterisk 13+ amd.conf', () => {
  assert.deepEqual(
    { ...AMD_DEFAULTS },
    {
      initialSilenceMs: 2500,
      greetingMs: 1500,
      afterGreetingSilenceMs: 800,
      totalAnalysisTimeMs: 5000,
      minWordLengthMs: 100,
      betweenWordsSilenceMs: 50,
      maximumNumberOfWords: 2,
      silenceThreshold: 256,
      maximumWordLengthMs: 5000,
    },
  );
});

test('AnsweringMachineDetector: a short hello then silence is HUMAN after after_greeting_silence', () => {
  const { result, atMs } = run(
    render([
      ['s', 300],
      ['v', 500],
      ['s', 2000],
    ]),
  );
  assert.equal(result?.status, 'human');
  assert.equal(result?.cause, 'HUMAN');
  assert.equal(result?.detail, 'HUMAN-800-800');
  assert.equal(result?.words, 1);
  assert.equal(atMs, 300 + 500 + 800);
});

test('AnsweringMachineDetector: silence from the start is MACHINE (INITIALSILENCE) at initial_silence', () => {
  const { result, atMs } = run(render([['s', 4000]]));
  assert.equal(result?.status, 'machine');
  assert.equal(result?.detail, 'INITIALSILENCE-2500-2500');
  assert.equal(atMs, 2500);
});

test('AnsweringMachineDetector: one long stretch of voice is MACHINE (LONGGREETING) at greeting', () => {
  const { result, atMs } = run(
    render([
      ['s', 200],
      ['v', 3000],
    ]),
  );
  assert.equal(result?.status, 'machine');
  assert.equal(result?.cause, 'LONGGREETING');
  assert.equal(result?.detail, 'LONGGREETING-1500-1500');
  assert.equal(atMs, 200 + 1500);
});

test('AnsweringMachineDetector: a third word is MACHINE (MAXWORDS-3-2) before the greeting is long', () => {
  const words: Segment[] = [['s', 200]];
  for (let i = 0; i < 5; i++) words.push(['v', 200], ['s', 200]);
  const { result, atMs } = run(render(words));
  assert.equal(result?.status, 'machine');
  assert.equal(result?.detail, 'MAXWORDS-3-2');
  // third word counted once 100 ms of it were heard: 200 + 2 × 400 + 100
  assert.equal(atMs, 1100);
});

test('AnsweringMachineDetector: older Asterisk (maximum_number_of_words 3) would wait for a fourth word', () => {
  const words: Segment[] = [['s', 200]];
  for (let i = 0; i < 5; i++) words.push(['v', 150], ['s', 150]);
  const { result } = run(
    render(words),
    8000,
    new AnsweringMachineDetector({ maximumNumberOfWords: 3, greetingMs: 5000 }),
  );
  assert.equal(result?.detail, 'MAXWORDS-4-3');
});

test('AnsweringMachineDetector: short pauses (< between_words_silence) do not split a word', () => {
  const script: Segment[] = [['s', 200]];
  for (let i = 0; i < 6; i++) script.push(['v', 200], ['s', 40]);
  script.push(['s', 2000]);
  const { result } = run(render(script), 8000, new AnsweringMachineDetector({ greetingMs: 5000 }));
  // 40 ms gaps: 2 silent frames → 40 ms < 50, so one word of ~1.4 s and then HUMAN
  assert.equal(result?.cause, 'HUMAN');
  assert.equal(result?.words, 1);
});

test('AnsweringMachineDetector: a word longer than maximum_word_length is MACHINE (MAXWORDLENGTH)', () => {
  const det = new AnsweringMachineDetector({ maximumWordLengthMs: 1000, greetingMs: 4000 });
  const { result } = run(
    render([
      ['s', 100],
      ['v', 2000],
    ]),
    8000,
    det,
  );
  assert.equal(result?.detail, 'MAXWORDLENGTH-1000');
});

test('AnsweringMachineDetector: no decision within total_analysis_time is NOTSURE (TOOLONG)', () => {
  // voice/silence that never reaches a rule: words of 60 ms (below min_word_length) apart
  const script: Segment[] = [];
  for (let i = 0; i < 60; i++) script.push(['v', 60], ['s', 60]);
  const { result, atMs } = run(render(script));
  assert.equal(result?.status, 'notsure');
  assert.equal(result?.detail, 'TOOLONG-5000');
  assert.equal(atMs, 5000);
});

test('AnsweringMachineDetector: quiet audio below silence_threshold counts as silence', () => {
  const quiet = render([['v', 3000]], 8000, 200); // mean |x| ≈ 127 < 256
  assert.equal(run(quiet).result?.cause, 'INITIALSILENCE');
  const det = new AnsweringMachineDetector({ silenceThreshold: 64 });
  assert.equal(
    run(
      render(
        [
          ['s', 100],
          ['v', 3000],
        ],
        8000,
        200,
      ),
      8000,
      det,
    ).result?.cause,
    'LONGGREETING',
  );
});

test('AnsweringMachineDetector decides the same at 16 kHz and 48 kHz as at 8 kHz', () => {
  const scripts: Segment[][] = [
    [
      ['s', 300],
      ['v', 500],
      ['s', 2000],
    ],
    [
      ['s', 200],
      ['v', 3000],
    ],
    [['s', 3000]],
  ];
  for (const script of scripts) {
    const base = run(render(script, 8000));
    for (const rate of [16000, 48000]) {
      const other = run(render(script, rate), rate);
      assert.deepEqual(other.result, base.result, `${rate} Hz`);
      assert.equal(other.atMs, base.atMs);
    }
  }
});

test('AnsweringMachineDetector: gaps in the timeline count as silence; expire() gives NOAUDIODATA or TOOLONG', () => {
  const det = new AnsweringMachineDetector();
  det.feed(
    render([
      ['s', 200],
      ['v', 400],
    ]),
    8000,
  );
  assert.equal(det.feedSilence(1000)?.detail, 'HUMAN-800-800');

  const idle = new AnsweringMachineDetector();
  assert.equal(idle.expire(4999), null);
  assert.equal(idle.expire(5001)?.detail, 'NOAUDIODATA-0');

  const stalled = new AnsweringMachineDetector();
  stalled.feed(render([['s', 200]]), 8000);
  assert.equal(stalled.expire(5001)?.detail, 'TOOLONG-200');
  // a decision is final
  assert.equal(stalled.feed(render([['v', 3000]]), 8000)?.cause, 'TOOLONG');
});

test('amdParameterError names a parameter out of bounds', () => {
  assert.equal(amdParameterError({ greetingMs: 1500 }), null);
  assert.match(amdParameterError({ greetingMs: 0 }) ?? '', /greetingMs/);
  assert.match(amdParameterError({ maximumNumberOfWords: 2.5 }) ?? '', /maximumNumberOfWords/);
  assert.match(amdParameterError({ silenceThreshold: '256' }) ?? '', /silenceThreshold/);
});
