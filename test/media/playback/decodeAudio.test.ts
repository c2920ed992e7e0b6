import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import {
  decodeAudio,
  decodeAudioAt,
  decodeWav,
  detectFormat,
  fixStreamedWav,
} from '../../../src/media/playback/decodeAudio.ts';
import { toneShare, tool, zeroCrossingHz } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'decode-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test(
  'decodeAudioAt() turns a 44.1 kHz 24-bit stereo WAV (sox) into 8 kHz mono with the right tone and length',
  needs('sox'),
  async (t) => {
    const dir = await tmp(t);
    const f = path.join(dir, 'tone.wav');
    // 1 kHz left and right, 1.5 s.
    tool('sox', ['-n', '-r', '44100', '-b', '24', '-c', '2', f, 'synth', '1.5', 'sine', '1000', 'vol', '0.5']);
    const { pcm, sampleRate } = await decodeAudioAt(await readFile(f), 8000);
    assert.equal(sampleRate, 8000);
    assert.ok(Math.abs(pcm.length - 12000) <= 8, `length ${pcm.length}`);
    const mid = pcm.subarray(400, pcm.length - 400);
    assert.ok(Math.abs(zeroCrossingHz(mid, 8000) - 1000) < 10, `zero crossings say ${zeroCrossingHz(mid, 8000)} Hz`);
    assert.ok(toneShare(mid, 8000, 1000) > 0.9);
    // vol 0.5 is about 16384 peak in PCM16.
    const peak = mid.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(peak > 14000 && peak < 18500, `peak ${peak}`);
  },
);

test('decodeWav() averages channels to mono', needs('sox'), async (t) => {
  const dir = await tmp(t);
  const f = path.join(dir, 'lr.wav');
  // Left 500 Hz, right 1500 Hz: mono holds both at half level.
  tool('sox', [
    '-n',
    '-r',
    '16000',
    '-b',
    '16',
    '-c',
    '2',
    f,
    'synth',
    '0.5',
    'sine',
    '500',
    'sine',
    '1500',
    'vol',
    '0.8',
  ]);
  const { pcm, sampleRate } = decodeWav(await readFile(f));
  assert.equal(sampleRate, 16000);
  assert.equal(pcm.length, 8000);
  assert.ok(toneShare(pcm, 16000, 500) > 0.4);
  assert.ok(toneShare(pcm, 16000, 1500) > 0.4);
});

test('decodeWav() reads 8-bit, 32-bit int, 32-bit float, mu-law and A-law WAVs', needs('sox'), async (t) => {
  const dir = await tmp(t);
  const cases: [string, string[]][] = [
    ['u8', ['-e', 'unsigned-integer', '-b', '8']],
    ['s32', ['-e', 'signed-integer', '-b', '32']],
    ['f32', ['-e', 'floating-point', '-b', '32']],
    ['ulaw', ['-e', 'mu-law', '-b', '8']],
    ['alaw', ['-e', 'a-law', '-b', '8']],
  ];
  for (const [name, enc] of cases) {
    const f = path.join(dir, `${name}.wav`);
    tool('sox', ['-n', '-r', '8000', '-c', '1', ...enc, f, 'synth', '0.25', 'sine', '800', 'vol', '0.5']);
    const { pcm, sampleRate } = decodeWav(await readFile(f));
    assert.equal(sampleRate, 8000, name);
    assert.equal(pcm.length, 2000, name);
    assert.ok(toneShare(pcm, 8000, 800) > 0.9, `${name}: tone share ${toneShare(pcm, 8000, 800)}`);
    const peak = pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(peak > 15000 && peak < 17500, `${name}: peak ${peak}`);
  }
});

test('decodeAudio() decodes an MP3 made by ffmpeg', needs('ffmpeg'), async (t) => {
  const dir = await tmp(t);
  const f = path.join(dir, 'tone.mp3');
  tool('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=22050:duration=1',
    '-ac',
    '2',
    '-b:a',
    '64k',
    f,
  ]);
  const bytes = await readFile(f);
  assert.equal(detectFormat(bytes), 'mp3');
  const { pcm, sampleRate } = await decodeAudio(bytes);
  assert.equal(sampleRate, 22050);
  assert.ok(pcm.length >= 22050 && pcm.length < 22050 + 2400, `length ${pcm.length}`);
  assert.ok(toneShare(pcm, 22050, 440, 2000, 20000) > 0.9);
  const at8k = await decodeAudioAt(bytes, 8000);
  assert.ok(Math.abs(zeroCrossingHz(at8k.pcm.subarray(800, 7200), 8000) - 440) < 8);
});

test('decodeWav() accepts a streamed WAV whose header sizes were never filled in', async () => {
  // What `espeak-ng --stdout` writes: RIFF and data sizes 0x7ffff000-ish.
  const samples = 400;
  const b = new Uint8Array(44 + samples * 2);
  const v = new DataView(b.buffer);
  b.set([0x52, 0x49, 0x46, 0x46], 0);
  v.setUint32(4, 0x7ffff024, true);
  b.set([0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20], 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, 22050, true);
  v.setUint32(28, 44100, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  b.set([0x64, 0x61, 0x74, 0x61], 36);
  v.setUint32(40, 0x7ffff000, true);
  for (let i = 0; i < samples; i++) v.setInt16(44 + i * 2, i * 10, true);
  const fixed = fixStreamedWav(b);
  assert.notEqual(fixed, b, 'the input is not modified in place');
  assert.equal(new DataView(b.buffer).getUint32(40, true), 0x7ffff000);
  const { pcm, sampleRate } = decodeWav(b);
  assert.equal(sampleRate, 22050);
  assert.equal(pcm.length, samples);
  assert.equal(pcm[399], 3990);
});

test('decodeAudio() rejects what is not WAV or MP3 with a clear error', async () => {
  await assert.rejects(
    decodeAudio(new TextEncoder().encode('<html>not found</html>'), 'http://x/a.wav'),
    (err: unknown) => {
      assert.ok(err instanceof UnsupportedError);
      assert.match(err.message, /http:\/\/x\/a\.wav: not a WAV or MP3/);
      return true;
    },
  );
  const truncated = new Uint8Array([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x41, 0x56, 0x45]);
  assert.throws(() => decodeWav(truncated), ValidationError);
});

test('decodeWav() reads a WAV streamed to a pipe with a data size of 0 (festival text2wave) as the rest of the file', () => {
  const samples = 320;
  const b = new Uint8Array(44 + samples * 2);
  const v = new DataView(b.buffer);
  b.set([0x52, 0x49, 0x46, 0x46], 0);
  v.setUint32(4, 36, true); // as streamed: the header alone
  b.set([0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20], 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, 16000, true);
  v.setUint32(28, 32000, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  b.set([0x64, 0x61, 0x74, 0x61], 36);
  v.setUint32(40, 0, true);
  for (let i = 0; i < samples; i++) v.setInt16(44 + i * 2, i * 10 - 1600, true);
  const { pcm, sampleRate } = decodeWav(b);
  assert.equal(sampleRate, 16000);
  assert.equal(pcm.length, samples);
  assert.equal(pcm[0], -1600);
  assert.equal(pcm[319], 1590);
});
