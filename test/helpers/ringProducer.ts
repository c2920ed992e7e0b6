/**
 * Worker-thread side of the ring stress tests: pushes `count` packets into a SpscRing and
 * rings the consumer's Doorbell, retrying (and so counting drops) while the ring is full, with
 * a pause every `burst` packets so the consumer goes to sleep and must be woken.
 * Packet i: payload length 1 + (i * 7919) % 600, byte j = (i + j) & 0xff; source i ^ 0x5eed,
 * seq i & 0xffff, ts i * 160.
 */
import { workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/common/Doorbell.ts';
import { SpscRing } from '../../src/common/SpscRing.ts';

const {
  ring: ringBuffer,
  bell: bellBuffer,
  count,
  burst,
} = workerData as { ring: SharedArrayBuffer; bell: SharedArrayBuffer; count: number; burst: number };
const ring = new SpscRing(ringBuffer);
const bell = new Doorbell(bellBuffer);
const pause = new Int32Array(new SharedArrayBuffer(4));
const data = new Uint8Array(600);
for (let i = 0; i < count; i++) {
  const length = 1 + ((i * 7919) % 600);
  for (let j = 0; j < length; j++) data[j] = (i + j) & 0xff;
  while (!ring.push(data, length, (i ^ 0x5eed) >>> 0, i & 0xffff, (i * 160) >>> 0)) {
    bell.ring();
    Atomics.wait(pause, 0, 0, 0.05);
  }
  bell.ring();
  if (i % burst === burst - 1) Atomics.wait(pause, 0, 0, 1);
}
