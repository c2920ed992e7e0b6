import { test } from 'node:test';
import assert from 'node:assert/strict';
import { L16Codec } from '../../../src/media/codecs/l16.ts';

test('L16Codec.encode() writes big-endian samples (RFC 3551 4.5.11)', () => {
  const codec = new L16Codec(16000);
  assert.deepEqual([codec.name, codec.clockRate, codec.sampleRate], ['l16', 16000, 16000]);
  const out = new Uint8Array(8);
  assert.equal(codec.encode(Int16Array.of(0x0102, -2, 32767, -32768), out), 8);
  assert.deepEqual([...out], [0x01, 0x02, 0xff, 0xfe, 0x7f, 0xff, 0x80, 0x00]);
});

test('L16Codec.decode() is the inverse of encode() for every 16-bit value', () => {
  const codec = new L16Codec(48000);
  const all = new Int16Array(65536).map((_, i) => i - 32768);
  const bytes = new Uint8Array(131072);
  const back = new Int16Array(65536);
  codec.encode(all, bytes);
  assert.equal(codec.decode(bytes, back), 65536);
  assert.deepEqual(back, all);
  // A trailing odd byte is ignored, not read past.
  assert.equal(codec.decode(Uint8Array.of(0x12, 0x34, 0x56), back), 1);
  assert.equal(back[0], 0x1234);
});

test('L16Codec rejects unsupported rates', () => {
  assert.throws(() => new L16Codec(44100), RangeError);
  assert.equal(new L16Codec().sampleRate, 8000);
});
