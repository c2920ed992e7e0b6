import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODEC_INFO, createCodec, findCodecInfo, OpusCodec } from '../../../src/media/codecs/index.ts';
import { UnsupportedError } from '../../../src/common/errors.ts';

test('CODEC_INFO lists the RFC 3551 / RFC 7587 parameters', () => {
  const row = (name: string, clockRate?: number) => findCodecInfo(name, clockRate);
  assert.deepEqual(row('PCMU'), { name: 'pcmu', staticPayloadType: 0, clockRate: 8000, sampleRate: 8000 });
  assert.deepEqual(row('pcma'), { name: 'pcma', staticPayloadType: 8, clockRate: 8000, sampleRate: 8000 });
  assert.deepEqual(row('G722'), { name: 'g722', staticPayloadType: 9, clockRate: 8000, sampleRate: 16000 });
  assert.deepEqual(row('opus'), { name: 'opus', clockRate: 48000, sampleRate: 48000, rtpmapChannels: 2 });
  for (const rate of [8000, 16000, 48000]) assert.equal(row('L16', rate)?.sampleRate, rate);
  assert.equal(row('l16', 44100), undefined);
  assert.equal(CODEC_INFO.length, 7);
  assert.ok(Object.isFrozen(CODEC_INFO) && Object.isFrozen(CODEC_INFO[0]));
});

test('createCodec() builds every CODEC_INFO entry with matching rates', () => {
  for (const info of CODEC_INFO) {
    const codec = createCodec(info.name, { clockRate: info.clockRate });
    try {
      assert.equal(codec.name, info.name);
      assert.equal(codec.clockRate, info.clockRate);
      assert.equal(codec.sampleRate, info.sampleRate);
      // One 20 ms frame of silence survives a round trip through every codec.
      const pcm = new Int16Array(info.sampleRate / 50);
      const bytes = new Uint8Array(2000);
      const n = codec.encode(pcm, bytes);
      assert.ok(n > 0);
      assert.equal(codec.decode(bytes.subarray(0, n), new Int16Array(5760)), pcm.length);
    } finally {
      codec.close?.();
    }
  }
});

test('createCodec() passes Opus bitrate and FEC through', () => {
  const codec = createCodec('OPUS', { bitrate: 20000, fec: true, sampleRate: 16000 });
  assert.ok(codec instanceof OpusCodec);
  assert.equal(codec.bitrate, 20000);
  assert.equal(codec.fec, true);
  assert.equal(codec.sampleRate, 16000);
  codec.close();
});

test('createCodec() rejects an unknown codec with UnsupportedError', () => {
  assert.throws(
    () => createCodec('g729'),
    (e: unknown) => e instanceof UnsupportedError && e.code === 'UNSUPPORTED_CODEC',
  );
  assert.throws(() => createCodec('pcmu', { clockRate: 16000 }), UnsupportedError);
});
