import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidStateError, UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { EncoderPool } from '../../../src/media/recording/EncoderPool.ts';
import { Mp3Writer } from '../../../src/media/recording/Mp3Writer.ts';
import { parseMp3FrameHeader } from '../../../src/media/recording/Mp3StreamEncoder.ts';
import { bestCorrelation, chirp, decodePlanar, feedFrames, ffprobe, sine, tempDir } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

// One pool for the file, closed at the end, so no thread outlives the tests.
const pool = new EncoderPool({ threads: 1 });
test.after(() => pool.close());

for (const [rate, channels] of [
  [8000, 1],
  [16000, 1],
  [48000, 2],
] as const) {
  test(
    `Mp3Writer writes ${rate} Hz ${channels} ch MP3 that ffmpeg decodes back to the source`,
    needs('ffmpeg', 'ffprobe'),
    async (t) => {
      const dir = tempDir(t);
      const path = join(dir, 'a.mp3');
      const w = await Mp3Writer.open({ path, sampleRate: rate, channels, encoder: pool });
      const seconds = 2;
      const left = sine(rate, seconds, 440);
      const right = sine(rate, seconds, 1000);
      feedFrames(rate, channels === 2 ? [left, right] : [left], (f) => w.write(f));
      const r = await w.close();
      assert.equal(r.durationMs, seconds * 1000);
      assert.equal(r.bytes, (await stat(path)).size);

      const p = await ffprobe(path);
      assert.deepEqual([p.codec, p.sampleRate, p.channels], ['mp3', rate, channels]);
      // No LAME/Xing tag: the encoder delay and last-frame padding (< 2 frames) are not trimmed.
      const frame = rate >= 32000 ? 1152 : 576;
      assert.ok(p.duration >= seconds && p.duration < seconds + (3 * frame) / rate, `ffprobe duration ${p.duration}`);

      const got = await decodePlanar(path, rate, channels);
      const maxLag = 3 * frame;
      const l = bestCorrelation(left, got[0]!, maxLag);
      assert.ok(l.r > 0.95, `left correlation ${l.r}`);
      if (channels === 2) {
        // The right channel holds the 1 kHz source, not the 440 Hz one: channels are not swapped.
        assert.ok(bestCorrelation(right, got[1]!, maxLag).r > 0.95);
        assert.ok(bestCorrelation(left, got[1]!, maxLag).r < 0.2);
      }
    },
  );
}

test('Mp3Writer at 8 kHz writes MPEG-2.5 frames', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'v25.mp3');
  const w = await Mp3Writer.open({ path, sampleRate: 8000, channels: 1, encoder: pool });
  feedFrames(8000, [chirp(8000, 0.5, 200, 3000)], (f) => w.write(f));
  await w.close();
  const head = await readFile(path);
  assert.equal((head[1]! >> 3) & 3, 0, 'version bits 00 = MPEG-2.5');
  assert.deepEqual(parseMp3FrameHeader(head), { sampleRate: 8000, channels: 1 });
});

test('Mp3Writer with encoder inline (setImmediate slices) writes the same kind of file', needs('ffmpeg'), async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'inline.mp3');
  const w = await Mp3Writer.open({ path, sampleRate: 16000, channels: 1, encoder: 'inline' });
  const src = sine(16000, 1, 700);
  feedFrames(16000, [src], (f) => w.write(f));
  await w.close();
  const got = await decodePlanar(path, 16000, 1);
  assert.ok(bestCorrelation(src, got[0]!, 2000).r > 0.95);
});

test(
  'Mp3Writer with ifExists append concatenates frames of a compatible MP3 and refuses others',
  needs('ffprobe'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'vm.mp3');
    for (let i = 0; i < 2; i++) {
      const w = await Mp3Writer.open({
        path,
        sampleRate: 8000,
        channels: 1,
        ifExists: i === 0 ? 'fail' : 'append',
        encoder: pool,
      });
      feedFrames(8000, [sine(8000, 1, 500)], (f) => w.write(f));
      await w.close();
    }
    const p = await ffprobe(path);
    assert.ok(p.duration > 2 && p.duration < 2.4, `${p.duration}`);
    await assert.rejects(
      Mp3Writer.open({ path, sampleRate: 16000, channels: 1, ifExists: 'append', encoder: pool }),
      ValidationError,
    );
    await writeFile(join(dir, 'junk.mp3'), 'hello');
    await assert.rejects(
      Mp3Writer.open({ path: join(dir, 'junk.mp3'), sampleRate: 8000, channels: 1, ifExists: 'append', encoder: pool }),
      ValidationError,
    );
  },
);

test('Mp3Writer.open() refuses bad bit rates, existing files and unreachable paths with the right errors', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    Mp3Writer.open({ path: join(dir, 'a.mp3'), sampleRate: 8000, channels: 1, bitrate: 192000, encoder: pool }),
    UnsupportedError,
  );
  await writeFile(join(dir, 'b.mp3'), '');
  await assert.rejects(
    Mp3Writer.open({ path: join(dir, 'b.mp3'), sampleRate: 8000, channels: 1, encoder: pool }),
    InvalidStateError,
  );
  // The error crosses from the encoder thread and keeps its code.
  await assert.rejects(
    Mp3Writer.open({ path: join(dir, 'no', 'c.mp3'), sampleRate: 8000, channels: 1, encoder: pool }),
    /ENOENT/,
  );
});

test('Mp3Writer drops and counts frames when the encoder holds all its chunks', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'q.mp3');
  const w = await Mp3Writer.open({
    path,
    sampleRate: 8000,
    channels: 1,
    chunkMs: 100,
    maxQueuedChunks: 2,
    encoder: pool,
  });
  // A synchronous burst: chunks cannot come back before it ends.
  feedFrames(8000, [sine(8000, 1, 400)], (f) => w.write(f));
  assert.equal(w.stats.queueHighWater, 2);
  const r = await w.close();
  assert.ok(r.droppedFrames > 0);
  assert.equal(r.durationMs, 1000 - r.droppedFrames * 20);
});

test('Mp3Writer reports a dead encoder thread through onError and close(), never through write()', async (t) => {
  const dir = tempDir(t);
  const own = new EncoderPool();
  const errors: Error[] = [];
  const w = await Mp3Writer.open({
    path: join(dir, 'dead.mp3'),
    sampleRate: 8000,
    channels: 1,
    encoder: own,
    onError: (e) => errors.push(e),
  });
  feedFrames(8000, [sine(8000, 0.5, 400)], (f) => w.write(f));
  await own.close();
  assert.equal(errors.length, 1);
  assert.equal(w.error, errors[0]);
  w.write([sine(8000, 0.02, 400)]); // ignored and counted
  await assert.rejects(w.close(), errors[0]!);
});
