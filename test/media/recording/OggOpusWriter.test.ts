import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsupportedError } from '../../../src/common/errors.ts';
import { EncoderPool } from '../../../src/media/recording/EncoderPool.ts';
import { OggOpusWriter } from '../../../src/media/recording/OggOpusWriter.ts';
import { OPUS_PRE_SKIP_48K } from '../../../src/media/recording/OggOpusEncoder.ts';
import { oggCrc32 } from '../../../src/media/recording/ogg.ts';
import {
  bestCorrelation,
  chirp,
  decodePlanar,
  execTool,
  feedFrames,
  ffprobe,
  sine,
  tempDir,
} from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

const pool = new EncoderPool({ threads: 1 });
test.after(() => pool.close());

interface Page {
  flags: number;
  granule: number;
  serial: number;
  sequence: number;
  packets: Uint8Array[];
  crcOk: boolean;
}

/** Independent Ogg page reader (RFC 3533 6) for structural checks. */
function readPages(file: Uint8Array): Page[] {
  const pages: Page[] = [];
  let at = 0;
  while (at < file.length) {
    const v = new DataView(file.buffer, file.byteOffset + at);
    assert.equal(String.fromCharCode(...file.subarray(at, at + 4)), 'OggS', `capture pattern at ${at}`);
    const segs = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + segs);
    let body = at + 27 + segs;
    const packets: Uint8Array[] = [];
    let start = body;
    for (const l of lacing) {
      body += l;
      if (l < 255) {
        packets.push(file.subarray(start, body));
        start = body;
      }
    }
    const page = Uint8Array.from(file.subarray(at, body));
    const crc = new DataView(page.buffer).getUint32(22, true);
    page.fill(0, 22, 26);
    pages.push({
      flags: file[at + 5]!,
      granule: v.getUint32(6, true) + v.getUint32(10, true) * 2 ** 32,
      serial: v.getUint32(14, true),
      sequence: v.getUint32(18, true),
      packets,
      crcOk: crc === oggCrc32(page),
    });
    at = body;
  }
  return pages;
}

async function opusinfo(path: string): Promise<string> {
  // Exit status 0 and no warning or error lines: what RFC 7845 conformance looks like to it.
  const { stdout, stderr } = await execTool('opusinfo', [path]);
  const out = stdout + stderr;
  assert.doesNotMatch(out, /warning|error/i, out);
  return out;
}

for (const [rate, channels] of [
  [8000, 1],
  [16000, 1],
  [48000, 2],
] as const) {
  test(
    `OggOpusWriter writes ${rate} Hz ${channels} ch Ogg Opus that opusinfo accepts and ffmpeg decodes to the exact length`,
    needs('opusinfo', 'ffmpeg', 'ffprobe'),
    async (t) => {
      const dir = tempDir(t);
      const path = join(dir, 'a.opus');
      const w = await OggOpusWriter.open({ path, sampleRate: rate, channels, encoder: pool, comments: ['TITLE=test'] });
      const seconds = 2.5;
      // Narrowband SILK keeps the waveform well only in the lower band: sweep less at 8 kHz.
      const left = chirp(rate, seconds, 200, rate === 8000 ? 1500 : 3400);
      const right = sine(rate, seconds, 600);
      feedFrames(rate, channels === 2 ? [left, right] : [left], (f) => w.write(f));
      const r = await w.close();
      assert.equal(r.durationMs, seconds * 1000);

      const info = await opusinfo(path);
      assert.match(info, new RegExp(`Original sample rate: ${rate} Hz`));
      assert.match(info, new RegExp(`Channels: ${channels}`));
      assert.match(info, /Pre-skip: 312/);
      assert.match(info, /Playback length: 0m:02\.500s/);

      const p = await ffprobe(path);
      assert.deepEqual([p.codec, p.sampleRate, p.channels], ['opus', 48000, channels]);
      assert.ok(Math.abs(p.duration - seconds) < 0.01, `ffprobe duration ${p.duration}`);

      // Pre-skip and end trimming exact: decoded length equals the input, and the chirp lines up
      // with its source at (almost) zero lag, which it would not with a wrong pre-skip.
      const got = await decodePlanar(path, rate, channels);
      assert.equal(got[0]!.length, seconds * rate);
      const c = bestCorrelation(left, got[0]!, 40, -40);
      assert.ok(c.r > 0.9, `correlation ${c.r}`);
      assert.ok(Math.abs(c.lag) <= 1, `lag ${c.lag} samples at ${rate} Hz`);
      if (channels === 2) assert.ok(bestCorrelation(right, got[1]!, 40, -40).r > 0.9);
    },
  );
}

test(
  'OggOpusWriter pages follow RFC 3533/7845: BOS then EOS, headers alone, sequence, granules, CRC',
  needs('opusinfo'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'p.opus');
    const w = await OggOpusWriter.open({ path, sampleRate: 8000, channels: 1, encoder: pool, flushMs: 500 });
    // 2.01 s: not a whole number of 20 ms frames, so the last one is padded and end-trimmed.
    const src = sine(8000, 2.01, 440);
    for (let i = 0; i < src.length; i += 160) w.write([src.subarray(i, Math.min(i + 160, src.length))]);
    await w.close();
    const pages = readPages(await readFile(path));
    assert.ok(
      pages.every((p) => p.crcOk),
      'every CRC32 matches',
    );
    assert.ok(pages.every((p, i) => p.sequence === i && p.serial === pages[0]!.serial));
    assert.deepEqual(pages.map((p) => p.flags & 2).filter(Boolean).length, 1);
    assert.equal(pages[0]!.flags, 2, 'BOS on the first page only');
    assert.equal(pages.at(-1)!.flags & 4, 4, 'EOS on the last page');
    assert.ok(pages.slice(0, -1).every((p) => (p.flags & 4) === 0));
    // OpusHead and OpusTags each alone on a page with granule 0 (RFC 7845 3).
    assert.equal(pages[0]!.packets.length, 1);
    assert.equal(Buffer.from(pages[0]!.packets[0]!.subarray(0, 8)).toString(), 'OpusHead');
    const head = pages[0]!.packets[0]!;
    assert.equal(head[8], 1);
    assert.equal(head[9], 1);
    assert.equal(new DataView(head.buffer, head.byteOffset).getUint16(10, true), OPUS_PRE_SKIP_48K);
    assert.equal(new DataView(head.buffer, head.byteOffset).getUint32(12, true), 8000);
    assert.equal(head[18], 0);
    assert.equal(pages[1]!.packets.length, 1);
    assert.equal(Buffer.from(pages[1]!.packets[0]!.subarray(0, 8)).toString(), 'OpusTags');
    assert.equal(pages[0]!.granule + pages[1]!.granule, 0);
    // Audio: granule counts 48 kHz samples including pre-skip, never decreases, last = end trim.
    const audio = pages.slice(2);
    for (let i = 1; i < audio.length; i++) assert.ok(audio[i]!.granule >= audio[i - 1]!.granule);
    assert.equal(audio[0]!.granule, audio[0]!.packets.length * 960);
    const end = OPUS_PRE_SKIP_48K + src.length * 6;
    assert.equal(audio.at(-1)!.granule, end);
    const packets = audio.reduce((n, p) => n + p.packets.length, 0);
    assert.ok(packets * 960 >= end && (packets - 1) * 960 < end, 'just enough packets to cover pre-skip + input');
    assert.ok(audio.length >= 4, 'pages flushed every ~500 ms');
    await opusinfo(path);
  },
);

test('OggOpusWriter leaves a decodable prefix when the process dies mid-recording', needs('ffmpeg'), async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'live.opus');
  const w = await OggOpusWriter.open({ path, sampleRate: 16000, channels: 1, encoder: pool, flushMs: 200 });
  t.after(() => w.close());
  const src = chirp(16000, 3, 300, 5000);
  feedFrames(16000, [src.subarray(0, 16000 * 2)], (f) => w.write(f));
  // Once what was written is on disk, "crash": copy the file without closing the writer.
  await w.flush();
  const crashed = join(dir, 'crashed.opus');
  await copyFile(path, crashed);
  const got = await decodePlanar(crashed, 16000, 1);
  // All but the newest 20 ms packet (held back for the EOS page) is decodable; no EOS needed.
  assert.ok(got[0]!.length >= 16000 * 1.9, `decoded ${got[0]!.length} samples from the prefix`);
  const c = bestCorrelation(src.subarray(0, got[0]!.length), got[0]!, 20, -20);
  assert.ok(c.r > 0.8, `prefix correlation ${c.r}`);
});

test('OggOpusWriter refuses append and impossible bit rates', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    OggOpusWriter.open({ path: join(dir, 'a.opus'), sampleRate: 8000, channels: 1, ifExists: 'append', encoder: pool }),
    UnsupportedError,
  );
  await assert.rejects(
    OggOpusWriter.open({ path: join(dir, 'a.opus'), sampleRate: 8000, channels: 1, bitrate: 1000, encoder: pool }),
    UnsupportedError,
  );
});
