import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { preparePlayer, type PlaybackResources } from '../../../../src/media/engines/playback/playbackResources.ts';
import type { DecodedAudio } from '../../../../src/media/playback/decodeAudio.ts';
import type { AudioPrep, PrepRequest } from '../../../../src/media/prep/AudioPrep.ts';

const RATE = 8000;
const promptsDir = path.resolve(import.meta.dirname, '../../../../prompts');

/** An AudioPrep whose files are ready at once and whose speech is ready only when the test says so. */
class ControlledPrep implements AudioPrep {
  readonly requests: PrepRequest[] = [];
  #speak: ((a: DecodedAudio) => void) | undefined;
  #fail: ((e: Error) => void) | undefined;
  prepare(req: PrepRequest): Promise<DecodedAudio> {
    this.requests.push(req);
    if (req.kind === 'file') return Promise.resolve({ pcm: new Int16Array(800).fill(1000), sampleRate: RATE });
    return new Promise((resolve, reject) => {
      this.#speak = resolve;
      this.#fail = reject;
    });
  }
  speak(): void {
    this.#speak?.({ pcm: new Int16Array(400).fill(-2000), sampleRate: RATE });
  }
  fail(): void {
    this.#fail?.(new Error('engine died'));
  }
  close(): void {}
}

function resources(prep: AudioPrep): PlaybackResources {
  return { prep, promptsDir, mediaRoots: [promptsDir], close: () => prep.close() };
}

test('preparePlayer() starts with a ready greeting while the sentence after it is still being synthesised, then plays it once ready', async () => {
  const prep = new ControlledPrep();
  const source = await preparePlayer(
    resources(prep),
    ['prompt:beep', 'tts:Please leave a message after the tone.'],
    RATE,
  );
  // Both were asked for at once: the sentence is prepared while the greeting plays.
  assert.deepEqual(
    prep.requests.map((r) => r.kind),
    ['file', 'tts'],
  );
  const frame = new Int16Array(160);
  for (let i = 0; i < 5; i++) {
    assert.equal(source.fill(frame), 160);
    assert.equal(frame[0], 1000, `greeting frame ${i}`);
  }
  // The sentence is not ready when its turn comes: silence, the player waits without failing.
  for (let i = 0; i < 3; i++) {
    assert.equal(source.fill(frame), 160);
    assert.equal(frame[0], 0);
    assert.equal(source.player.state, 'loading');
  }
  prep.speak();
  await new Promise((r) => setImmediate(r));
  assert.equal(source.fill(frame), 160);
  assert.equal(frame[0], -2000);
  assert.equal(source.fill(frame), 160);
  assert.equal(source.fill(frame), 160); // 400 samples: the last frame half speech, zero-padded
  assert.equal(source.fill(frame), 0);
  assert.equal(source.player.reason, 'done');
});

test('preparePlayer(): a later entry that fails ends the playback with error only when its turn comes', async () => {
  const prep = new ControlledPrep();
  const source = await preparePlayer(resources(prep), ['prompt:beep', 'tts:Goodbye.'], RATE);
  prep.fail();
  await new Promise((r) => setImmediate(r));
  const frame = new Int16Array(160);
  for (let i = 0; i < 5; i++) assert.equal(frame.fill(0) && source.fill(frame), 160);
  assert.equal(source.player.state === 'finished', false, 'the greeting plays to its end');
  source.fill(frame);
  assert.equal(source.player.reason, 'error');
  assert.match(source.player.error?.message ?? '', /engine died/);
});
