import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { createRecordingWriter } from '../../../src/media/recording/createRecordingWriter.ts';
import { EncoderPool } from '../../../src/media/recording/EncoderPool.ts';
import { Mp3Writer } from '../../../src/media/recording/Mp3Writer.ts';
import { OggOpusWriter } from '../../../src/media/recording/OggOpusWriter.ts';
import { WavFileWriter } from '../../../src/media/recording/WavFileWriter.ts';
import { feedFrames, ffprobe, sine, tempDir } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

const pool = new EncoderPool();
test.after(() => pool.close());

test(
  'createRecordingWriter() opens the writer for each format; every file reads back at 1 s',
  needs('ffprobe'),
  async (t) => {
    const dir = tempDir(t);
    const kinds = [
      ['wav', WavFileWriter, 'pcm_s16le'],
      ['mp3', Mp3Writer, 'mp3'],
      ['opus', OggOpusWriter, 'opus'],
    ] as const;
    for (const [format, cls, codec] of kinds) {
      const path = join(dir, `r.${format}`);
      const w = await createRecordingWriter({ path, format, sampleRate: 8000, channels: 1, encoder: pool });
      assert.ok(w instanceof cls);
      assert.equal(w.format, format);
      feedFrames(8000, [sine(8000, 1, 440)], (f) => w.write(f));
      const r = await w.close();
      assert.equal(r.durationMs, 1000);
      const p = await ffprobe(path);
      assert.equal(p.codec, codec);
      assert.ok(p.duration >= 0.999 && p.duration < 1.25, `${format}: ${p.duration}`);
    }
  },
);

test('createRecordingWriter() refuses relative paths with .., unknown formats, rates and channel counts', async (t) => {
  const dir = tempDir(t);
  for (const path of ['../x.wav', 'recordings/../../x.wav', 'a\\..\\b.wav']) {
    await assert.rejects(
      createRecordingWriter({ path, format: 'wav', sampleRate: 8000, channels: 1 }),
      ValidationError,
      path,
    );
  }
  await assert.rejects(
    createRecordingWriter({ path: join(dir, 'a'), format: 'flac' as 'wav', sampleRate: 8000, channels: 1 }),
    UnsupportedError,
  );
  await assert.rejects(
    createRecordingWriter({ path: join(dir, 'a'), format: 'mp3', sampleRate: 44100, channels: 1, encoder: pool }),
    UnsupportedError,
  );
  await assert.rejects(
    createRecordingWriter({ path: join(dir, 'a'), format: 'opus', sampleRate: 8000, channels: 3, encoder: pool }),
    UnsupportedError,
  );
});
