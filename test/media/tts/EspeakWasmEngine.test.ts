import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EspeakWasmEngine } from '../../../src/media/tts/EspeakWasmEngine.ts';
import { rms } from '../../helpers/audio.ts';

test('EspeakWasmEngine.synthesize() speaks "hello world" as non-silent audio of plausible length', async (t) => {
  const engine = new EspeakWasmEngine();
  t.after(() => engine.close());
  const { pcm, sampleRate } = await engine.synthesize('hello world');
  assert.equal(sampleRate, 22050);
  const seconds = pcm.length / sampleRate;
  assert.ok(seconds > 0.6 && seconds < 2.5, `${seconds} s`);
  assert.ok(rms(pcm) > 500, `rms ${rms(pcm)}`);
  // Speech has pauses and loud parts: 10 ms blocks vary a lot in level.
  const block = Math.floor(sampleRate / 100);
  const levels: number[] = [];
  for (let i = 0; i + block <= pcm.length; i += block) levels.push(rms(pcm, i, i + block));
  assert.ok(Math.max(...levels) > 10 * Math.min(...levels));
});

test('EspeakWasmEngine takes rate and voice, and serialises concurrent requests', async (t) => {
  const engine = new EspeakWasmEngine();
  t.after(() => engine.close());
  const text = 'one two three four five six seven';
  const [normal, fast, german] = await Promise.all([
    engine.synthesize(text),
    engine.synthesize(text, { rate: 2 }),
    engine.synthesize('eins zwei drei', { voice: 'de' }),
  ]);
  assert.ok(fast.pcm.length < normal.pcm.length * 0.7, `fast ${fast.pcm.length} vs normal ${normal.pcm.length}`);
  assert.ok(german.pcm.length > 0);
  assert.ok(rms(german.pcm) > 500);
});

test('EspeakWasmEngine rejects after close()', async () => {
  const engine = new EspeakWasmEngine();
  engine.close();
  await assert.rejects(engine.synthesize('hi'), /closed/);
});
