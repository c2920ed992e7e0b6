import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OggStream, oggCrc32 } from '../../../src/media/recording/ogg.ts';

test('oggCrc32() is CRC-32 poly 0x04c11db7, init 0, unreflected, no final xor (RFC 3533 6)', () => {
  // Catalogued CRC-32/POSIX check value 0x765e7680 is this CRC with a final xor of all ones.
  assert.equal(oggCrc32(Buffer.from('123456789')), (0x765e7680 ^ 0xffffffff) >>> 0);
  assert.equal(oggCrc32(new Uint8Array(0)), 0);
  // Against a bit-by-bit reference on random data.
  const data = new Uint8Array(1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) & 0xff;
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? ((crc << 1) ^ 0x04c11db7) >>> 0 : (crc << 1) >>> 0;
  }
  assert.equal(oggCrc32(data), crc >>> 0);
});

test('OggStream.flushPage() laces packets of 255 multiples with a terminating 0 and sets BOS, EOS, granule', () => {
  const s = new OggStream(0x01020304);
  s.addPacket(new Uint8Array(255).fill(1), 960);
  s.addPacket(new Uint8Array(10).fill(2), 1920);
  const p0 = s.flushPage(false)!;
  assert.equal(p0[5], 0x02);
  assert.equal(p0[26], 3);
  assert.deepEqual([...p0.subarray(27, 30)], [255, 0, 10]);
  assert.equal(p0.length, 27 + 3 + 265);
  const v = new DataView(p0.buffer);
  assert.equal(v.getUint32(6, true), 1920);
  assert.equal(v.getUint32(14, true), 0x01020304);
  assert.equal(v.getUint32(18, true), 0);
  const crc = v.getUint32(22, true);
  const zeroed = Uint8Array.from(p0);
  zeroed.fill(0, 22, 26);
  assert.equal(crc, oggCrc32(zeroed));
  s.addPacket(new Uint8Array(3), 2 ** 33 + 5);
  const p1 = s.flushPage(true)!;
  const v1 = new DataView(p1.buffer);
  assert.equal(p1[5], 0x04);
  assert.equal(v1.getUint32(18, true), 1);
  assert.equal(v1.getUint32(6, true) + v1.getUint32(10, true) * 2 ** 32, 2 ** 33 + 5);
  assert.throws(() => s.flushPage(false));
});

test('OggStream.addPacket() starts a new page before a packet that would pass 255 lacing values', () => {
  const s = new OggStream(1);
  let flushed: Uint8Array | null = null;
  let n = 0;
  while (flushed === null) flushed = s.addPacket(new Uint8Array(600), ++n * 960); // 3 lacing values each
  assert.equal(n, 86); // 85 × 3 = 255 fit, the 86th moves on
  assert.equal(flushed[26], 255);
  assert.equal(new DataView(flushed.buffer).getUint32(6, true), 85 * 960);
  assert.equal(s.pendingPackets, 1);
});
