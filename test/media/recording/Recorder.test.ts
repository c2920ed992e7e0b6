import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../../src/common/errors.ts';
import { Recorder, type RecorderResult } from '../../../src/media/recording/Recorder.ts';
import type {
  RecordingResult,
  RecordingWriter,
  RecordingWriterStats,
} from '../../../src/media/recording/RecordingWriter.ts';
import { WavFileWriter } from '../../../src/media/recording/WavFileWriter.ts';
import { createRecordingWriter } from '../../../src/media/recording/createRecordingWriter.ts';
import { ffprobe, sine, tempDir } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

/** In-memory writer: keeps a copy of every interleaved frame written. */
class MemoryWriter implements RecordingWriter {
  readonly path = '/mem.wav';
  readonly format = 'wav' as const;
  readonly stats: RecordingWriterStats = { samples: 0, droppedFrames: 0, queuedChunks: 0, queueHighWater: 0 };
  error: Error | null = null;
  closed = 0;
  readonly frames: Int16Array[] = [];
  constructor(
    readonly sampleRate: number,
    readonly channels: number,
  ) {}
  write(pcm: Int16Array | readonly Int16Array[]): void {
    assert.ok(pcm instanceof Int16Array);
    this.frames.push(Int16Array.from(pcm));
    this.stats.samples += pcm.length / this.channels;
  }
  async close(): Promise<RecordingResult> {
    this.closed++;
    if (this.error !== null) throw this.error;
    return {
      path: this.path,
      format: 'wav',
      bytes: 0,
      durationMs: (this.stats.samples / this.sampleRate) * 1000,
      droppedFrames: 0,
    };
  }
  get all(): Int16Array {
    const out = new Int16Array(this.frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of this.frames) {
      out.set(f, at);
      at += f.length;
    }
    return out;
  }
}

const RATE = 8000;
const N = 160;
const frame = (v: number): Int16Array => new Int16Array(N).fill(v);
/** A loud 20 ms frame (-10 dBFS sine) and a quiet one (-60 dBFS). */
const loud = sine(RATE, 0.02, 400, 10000);
const quiet = sine(RATE, 0.02, 400, 30);

test('Recorder in mono mixes both directions with saturation', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE });
  r.tick(frame(1000), frame(-300));
  r.tick(frame(30000), frame(10000));
  r.tick(frame(-30000), frame(-10000));
  r.tick(frame(5), null);
  await r.stop();
  assert.deepEqual(
    w.frames.map((f) => f[0]),
    [700, 32767, -32768, 5],
  );
});

test('Recorder in stereo puts a (received / leg A) left and b (sent / leg B) right', async () => {
  const w = new MemoryWriter(RATE, 2);
  const r = new Recorder(w, { sampleRate: RATE, channelMode: 'stereo' });
  r.tick(frame(111), frame(-222));
  r.tick(frame(7), null);
  await r.stop();
  assert.deepEqual([...w.frames[0]!.subarray(0, 4)], [111, -222, 111, -222]);
  assert.deepEqual([...w.frames[1]!.subarray(0, 4)], [7, 0, 7, 0]);
  assert.throws(
    () => new Recorder(new MemoryWriter(RATE, 1), { sampleRate: RATE, channelMode: 'stereo' }),
    ValidationError,
  );
  assert.throws(() => new Recorder(new MemoryWriter(16000, 1), { sampleRate: RATE }), ValidationError);
});

test('Recorder with beep writes a 200 ms 1 kHz tone first, in place of the input', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, beep: true });
  for (let i = 0; i < 15; i++) r.tick(frame(0));
  await r.stop();
  const all = w.all;
  assert.equal(all.length, 15 * N);
  const tone = all.subarray(0, 1600);
  assert.deepEqual(tone, Recorder.beepTone(RATE));
  // 1 kHz: 200 cycles → ~400 zero crossings in 200 ms; loud; then the (silent) input.
  let crossings = 0;
  for (let i = 1; i < tone.length; i++) if (tone[i - 1]! < 0 !== tone[i]! < 0) crossings++;
  assert.ok(Math.abs(crossings - 400) <= 4, `${crossings} crossings`);
  assert.ok(Math.max(...tone) > 15000);
  assert.ok(all.subarray(1600).every((s) => s === 0));
});

test('Recorder stops with max_duration after exactly that much audio', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, maxDurationMs: 1000 });
  const stopped = new Promise<RecorderResult>((resolve) => r.on('stopped', resolve));
  for (let i = 0; i < 80; i++) r.tick(loud);
  const res = await stopped;
  assert.equal(res.cause, 'max_duration');
  assert.equal(res.durationMs, 1000);
  assert.equal(w.frames.length, 50);
  assert.equal(r.state, 'stopped');
  assert.equal(w.closed, 1);
});

test('Recorder stops with silence after max_silence_ms of quiet audio and trims that trailing silence', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, maxSilenceMs: 1000, silenceThresholdDbfs: -45 });
  for (let i = 0; i < 25; i++) r.tick(loud); // 0.5 s speech
  for (let i = 0; i < 20; i++) r.tick(quiet); // 0.4 s pause: kept, speech resumes
  for (let i = 0; i < 25; i++) r.tick(loud); // 0.5 s speech
  for (let i = 0; i < 100; i++) r.tick(quiet); // silence: stops after 1 s
  const res = await r.done!;
  assert.equal(res.cause, 'silence');
  assert.equal(res.durationMs, 1400);
  assert.equal(r.elapsedMs, 2400);
  assert.deepEqual(w.frames.at(-1), loud);
});

test('Recorder with trimSilence false keeps the silence that ended the recording', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, maxSilenceMs: 600, trimSilence: false });
  for (let i = 0; i < 10; i++) r.tick(loud);
  for (let i = 0; i < 100; i++) r.tick(frame(0));
  const res = await r.done!;
  assert.equal(res.cause, 'silence');
  assert.equal(res.durationMs, 800);
});

test(
  'Recorder silence detection on real speech: a prompt then silence stops with the prompt kept whole',
  needs('ffprobe', 'asterisk-sounds'),
  async (t) => {
    const dir = tempDir(t);
    const speech = await readFile('/usr/share/asterisk/sounds/en/vm-intro.wav');
    const pcm = new Int16Array(
      speech.buffer.slice(speech.byteOffset + 44, speech.byteOffset + speech.length - ((speech.length - 44) % 2)),
    );
    const path = join(dir, 'vm.wav');
    // The loop below runs faster than real time and never yields: room for all of it in the queue.
    const w = await WavFileWriter.open({ path, sampleRate: RATE, channels: 1, maxQueuedChunks: 64 });
    const r = new Recorder(w, { sampleRate: RATE, maxSilenceMs: 2000, silenceThresholdDbfs: -45 });
    const f = new Int16Array(N);
    let ticks = 0;
    for (let i = 0; r.state === 'recording' && ticks < 1000; i += N, ticks++) {
      f.fill(0);
      if (i < pcm.length) f.set(pcm.subarray(i, Math.min(i + N, pcm.length)));
      r.tick(f);
    }
    const res = await r.done!;
    assert.equal(res.cause, 'silence');
    assert.equal(res.droppedFrames, 0);
    const speechMs = (pcm.length / RATE) * 1000;
    // Pauses between words are shorter than 2 s, so nothing of the prompt is cut; its own quiet
    // tail is trimmed with the silence that follows.
    assert.ok(
      res.durationMs <= speechMs + 20 && res.durationMs > speechMs - 1000,
      `${res.durationMs} ms of ${speechMs}`,
    );
    assert.ok(r.elapsedMs >= speechMs + 1000);
    const p = await ffprobe(path);
    assert.ok(Math.abs(p.duration * 1000 - res.durationMs) < 1);
  },
);

test('Recorder pause/resume: paused time is not written and does not count', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, maxDurationMs: 400 });
  for (let i = 0; i < 10; i++) r.tick(frame(1));
  r.pause();
  assert.equal(r.state, 'paused');
  for (let i = 0; i < 50; i++) r.tick(frame(2));
  r.resume();
  for (let i = 0; i < 50; i++) r.tick(frame(3));
  const res = await r.done!;
  assert.equal(res.cause, 'max_duration');
  assert.deepEqual(
    w.frames.map((x) => x[0]),
    [...Array(10).fill(1), ...Array(10).fill(3)],
  );
});

test('Recorder.onDtmf() stops with dtmf on a terminator digit only, even while paused', async () => {
  const w = new MemoryWriter(RATE, 1);
  const r = new Recorder(w, { sampleRate: RATE, terminateOn: '#*' });
  r.tick(loud);
  r.onDtmf('5');
  assert.equal(r.state, 'recording');
  r.pause();
  r.onDtmf('#');
  r.tick(loud);
  const res = await r.done!;
  assert.equal(res.cause, 'dtmf');
  assert.equal(w.frames.length, 1);
  // The first cause wins; later stops return the same result.
  assert.equal((await r.hangup()).cause, 'dtmf');
  assert.equal(w.closed, 1);
});

test('Recorder.hangup() and stop() give their causes; a failing writer gives error', async () => {
  const a = new Recorder(new MemoryWriter(RATE, 1), { sampleRate: RATE });
  assert.equal((await a.hangup()).cause, 'hangup');
  const b = new Recorder(new MemoryWriter(RATE, 1), { sampleRate: RATE });
  assert.equal((await b.stop()).cause, 'stopped');

  const w = new MemoryWriter(RATE, 1);
  const c = new Recorder(w, { sampleRate: RATE });
  c.tick(loud);
  w.error = new Error('disk full');
  c.tick(loud); // the next tick notices; nothing is thrown into the clock
  const res = await c.done!;
  assert.equal(res.cause, 'error');
  assert.equal(res.error?.message, 'disk full');
  assert.equal(w.frames.length, 1);
});

test(
  'Recorder in stereo over a real WAV writer: beep, then both legs, read back by ffprobe',
  needs('ffprobe'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'bridge.wav');
    const w = await createRecordingWriter({ path, format: 'wav', sampleRate: 16000, channels: 2 });
    const r = new Recorder(w, { sampleRate: 16000, channelMode: 'stereo', beep: true, maxDurationMs: 1000 });
    const a = sine(16000, 0.02, 500, 8000);
    const b = sine(16000, 0.02, 250, 8000);
    while (r.state === 'recording') r.tick(a, b);
    const res = await r.done!;
    assert.equal(res.cause, 'max_duration');
    const p = await ffprobe(path);
    assert.deepEqual([p.channels, p.sampleRate], [2, 16000]);
    assert.ok(Math.abs(p.duration - 1) < 0.001);
    const data = new Int16Array((await readFile(path)).buffer.slice(44));
    assert.equal(data[2 * 3200 + 2 * 10], a[10]); // after the beep, left = leg A
    assert.equal(data[2 * 3200 + 2 * 10 + 1], b[10]); // right = leg B
  },
);
