import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidStateError } from '../../../src/common/errors.ts';
import { parseToneSpec } from '../../../src/media/playback/ToneGenerator.ts';
import { Player, type FinishReason } from '../../../src/media/playback/Player.ts';
import { rms, toneShare } from '../../helpers/audio.ts';

const RATE = 8000;
const FRAME = 160;

function ramp(n: number, start = 1): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = start + i;
  return a;
}

/** Run the player to the end (bounded), collecting every frame it returned. */
function drain(p: Player, maxFrames = 10_000): { frames: number; audio: Int16Array } {
  const out = new Int16Array(FRAME);
  const chunks: Int16Array[] = [];
  for (let i = 0; i < maxFrames; i++) {
    out.fill(12345); // stale data must never leak into a frame
    const n = p.fill(out);
    if (n === 0) break;
    assert.equal(n, FRAME, 'fill() returns a full frame or nothing');
    chunks.push(out.slice());
  }
  const audio = new Int16Array(chunks.length * FRAME);
  chunks.forEach((c, i) => audio.set(c, i * FRAME));
  return { frames: chunks.length, audio };
}

test('Player.fill() always writes whole frames and zero-pads the last partial one', () => {
  const p = new Player([{ kind: 'pcm', pcm: ramp(1000) }], { sampleRate: RATE });
  let reason: FinishReason | undefined;
  p.on('finished', (r) => (reason = r));
  const { frames, audio } = drain(p);
  assert.equal(frames, Math.ceil(1000 / FRAME)); // 7 frames, the last 40 samples + 120 zeros
  assert.deepEqual(audio.subarray(0, 1000), ramp(1000));
  assert.ok(audio.subarray(1000).every((v) => v === 0));
  assert.equal(p.state, 'finished');
  assert.equal(reason, 'done');
  assert.equal(p.fill(new Int16Array(FRAME)), 0, 'a finished player returns 0');
});

test('Player.fill() joins entries inside one frame with no gap', () => {
  const p = new Player(
    [
      { kind: 'pcm', pcm: ramp(100, 1) },
      { kind: 'silence', durationMs: 5 }, // 40 samples at 8 kHz
      { kind: 'pcm', pcm: ramp(100, 1000) },
    ],
    { sampleRate: RATE },
  );
  const { frames, audio } = drain(p);
  assert.equal(frames, 2);
  assert.deepEqual(audio.subarray(0, 100), ramp(100, 1));
  assert.ok(audio.subarray(100, 140).every((v) => v === 0));
  assert.deepEqual(audio.subarray(140, 240), ramp(100, 1000));
  assert.equal(p.durationSamples(), 240);
});

test('Player honours loop counts: 0 and 1 play once, n plays n times', () => {
  for (const [loop, times] of [
    [0, 1],
    [1, 1],
    [3, 3],
  ] as const) {
    const p = new Player([{ kind: 'pcm', pcm: ramp(FRAME * 2) }], { sampleRate: RATE, loop });
    assert.equal(drain(p).frames, 2 * times, `loop ${loop}`);
    assert.equal(p.pass, times);
  }
});

test('Player with loop: true plays until stopped', () => {
  const p = new Player([{ kind: 'pcm', pcm: ramp(100) }], { sampleRate: RATE, loop: true });
  const out = new Int16Array(FRAME);
  for (let i = 0; i < 500; i++) assert.equal(p.fill(out), FRAME);
  assert.equal(out[0], ((499 * FRAME) % 100) + 1, 'the loop is seamless across frames');
  assert.ok(p.pass > 700);
  p.stop();
  assert.equal(p.reason, 'stopped');
  assert.equal(p.fill(out), 0);
  p.stop(); // idempotent
});

test('Player with loop: true over an empty playlist ends instead of spinning', () => {
  const p = new Player([{ kind: 'pcm', pcm: new Int16Array(0) }], { sampleRate: RATE, loop: true });
  assert.equal(p.fill(new Int16Array(FRAME)), 0);
  assert.equal(p.reason, 'done');
});

test('Player.pause() sends silence and resume() continues where it stopped', () => {
  const p = new Player([{ kind: 'pcm', pcm: ramp(FRAME * 3) }], { sampleRate: RATE });
  const out = new Int16Array(FRAME);
  p.fill(out);
  p.pause();
  assert.equal(p.state, 'paused');
  for (let i = 0; i < 5; i++) {
    out.fill(7);
    assert.equal(p.fill(out), FRAME);
    assert.ok(out.every((v) => v === 0));
  }
  p.resume();
  p.fill(out);
  assert.equal(out[0], FRAME + 1);
  assert.equal(p.playedSamples, 7 * FRAME);
});

test('Player.bargeIn() stops with the digit only when barge-in is enabled for it', () => {
  const off = new Player([{ kind: 'pcm', pcm: ramp(8000) }], { sampleRate: RATE });
  assert.equal(off.bargeIn('5'), false);
  assert.equal(off.state, 'playing');

  const some = new Player([{ kind: 'pcm', pcm: ramp(8000) }], { sampleRate: RATE, bargeIn: '#*' });
  assert.equal(some.bargeIn('5'), false);
  let info: { digit?: string } | undefined;
  some.on('finished', (r, i) => {
    assert.equal(r, 'barge_in');
    info = i;
  });
  assert.equal(some.bargeIn('#'), true);
  assert.equal(some.reason, 'barge_in');
  assert.equal(some.bargeInDigit, '#');
  assert.equal(info?.digit, '#');
  assert.equal(some.fill(new Int16Array(FRAME)), 0);
  assert.equal(some.bargeIn('#'), false, 'a finished player ignores further digits');
  assert.throws(() => some.pause(), InvalidStateError);
});

test('Player surfaces DTMF entries as an action and waits for completeAction()', () => {
  const p = new Player(
    [
      { kind: 'pcm', pcm: ramp(100) },
      { kind: 'dtmf', digits: '12#', durationMs: 100 },
      { kind: 'pcm', pcm: ramp(100, 500) },
    ],
    { sampleRate: RATE },
  );
  const actions: string[] = [];
  p.on('action', (a) => actions.push(a.digits));
  const out = new Int16Array(FRAME);
  assert.equal(p.fill(out), FRAME);
  assert.deepEqual(out.subarray(0, 100), ramp(100));
  assert.ok(
    out.subarray(100).every((v) => v === 0),
    'the frame is padded while the digits go out',
  );
  assert.equal(p.state, 'waiting');
  assert.deepEqual(p.pendingAction, { type: 'dtmf', digits: '12#', durationMs: 100, index: 1 });
  assert.equal(p.fill(out), FRAME);
  assert.ok(out.every((v) => v === 0));
  p.completeAction();
  assert.equal(p.pendingAction, undefined);
  assert.equal(p.fill(out), FRAME);
  assert.deepEqual(out.subarray(0, 100), ramp(100, 500));
  assert.equal(p.fill(out), 0);
  assert.deepEqual(actions, ['12#']);
});

test('Player generates tones on the fly with their cadence (US busy: 480+620 Hz, 0.5 s on/off)', () => {
  const p = new Player([{ kind: 'tone', tone: parseToneSpec('busy:2000') }], { sampleRate: RATE });
  const { frames, audio } = drain(p);
  assert.equal(frames, 100); // 2 s of 20 ms frames
  const on = [0, 4000]; // first on period, in samples
  assert.ok(toneShare(audio, RATE, 480, 0, 4000) > 0.4);
  assert.ok(toneShare(audio, RATE, 620, 0, 4000) > 0.4);
  assert.ok(toneShare(audio, RATE, 1000, ...on) < 0.01);
  assert.ok(rms(audio, 0, 4000) > 3000);
  assert.equal(rms(audio, 4000, 8000), 0, 'off period is silent');
  assert.ok(rms(audio, 8000, 12000) > 3000, 'second on period');
});

test('Player plays an unbounded tone until stopped', () => {
  const p = new Player(
    [
      { kind: 'tone', tone: parseToneSpec('440') },
      { kind: 'pcm', pcm: ramp(10) },
    ],
    { sampleRate: 16000 },
  );
  const out = new Int16Array(320);
  for (let i = 0; i < 3000; i++) assert.equal(p.fill(out), 320);
  assert.ok(toneShare(out, 16000, 440) > 0.9);
  assert.equal(p.durationSamples(), undefined);
});

test('Player loads lazy entries when reached, sending silence meanwhile', async () => {
  let resolveLoad!: (pcm: Int16Array) => void;
  let loads = 0;
  const p = new Player(
    [
      {
        kind: 'lazy',
        load: () => {
          loads++;
          return new Promise<Int16Array>((r) => (resolveLoad = r));
        },
      },
    ],
    { sampleRate: RATE },
  );
  const out = new Int16Array(FRAME);
  assert.equal(p.fill(out), FRAME);
  assert.equal(p.state, 'loading');
  assert.equal(p.fill(out), FRAME);
  assert.equal(loads, 1, 'one load however many frames pass');
  resolveLoad(ramp(FRAME));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(p.fill(out), FRAME);
  assert.deepEqual(out, ramp(FRAME));
  assert.equal(p.fill(out), 0);
  assert.equal(p.reason, 'done');
});

test('Player finishes with error when a lazy entry fails, and aborts loads on stop()', async () => {
  const failing = new Player([{ kind: 'lazy', load: () => Promise.reject(new Error('boom')) }], { sampleRate: RATE });
  const finished = new Promise<FinishReason>((r) => failing.on('finished', (reason) => r(reason)));
  failing.fill(new Int16Array(FRAME));
  assert.equal(await finished, 'error');
  assert.equal(failing.error?.message, 'boom');

  let seen: AbortSignal | undefined;
  const stopped = new Player(
    [
      {
        kind: 'lazy',
        load: (signal) => {
          seen = signal;
          return new Promise<Int16Array>(() => undefined);
        },
      },
    ],
    { sampleRate: RATE },
  );
  stopped.fill(new Int16Array(FRAME));
  stopped.stop();
  assert.equal(seen?.aborted, true);
});
