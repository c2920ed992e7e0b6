import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Doorbell } from '../../../src/common/Doorbell.ts';
import { SpscRing } from '../../../src/common/SpscRing.ts';
import { RingInbox, type RingSink } from '../../../src/media/engines/RingInbox.ts';

const producerUrl = new URL('../../helpers/ringProducer.ts', import.meta.url);

/** A worker thread running a TypeScript module (tsx's hooks do not reach workers on Node 20). */
function tsWorker(url: URL, workerData: unknown): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** Checks each packet against the producer's pattern (test/helpers/ringProducer.ts). */
class CheckingSink implements RingSink {
  received = 0;
  errors: string[] = [];
  #done: () => void = () => {};
  readonly done: Promise<void>;
  readonly #count: number;
  constructor(count: number) {
    this.#count = count;
    this.done = new Promise((resolve) => {
      this.#done = resolve;
    });
  }
  sendRelayed(buf: Uint8Array, length: number, source: number, seq: number, ts: number): boolean {
    const i = this.received++;
    if (this.errors.length < 5) {
      if (length !== 1 + ((i * 7919) % 600)) this.errors.push(`packet ${i}: length ${length}`);
      else if (source !== (i ^ 0x5eed) >>> 0 || seq !== (i & 0xffff) || ts !== (i * 160) >>> 0)
        this.errors.push(`packet ${i}: words ${source}/${seq}/${ts}`);
      else
        for (let j = 0; j < length; j++) {
          if (buf[j] !== ((i + j) & 0xff)) {
            this.errors.push(`packet ${i}: byte ${j}`);
            break;
          }
        }
    }
    if (this.received === this.#count) this.#done();
    return true;
  }
}

for (const [capacity, burst] of [
  [16384, 500],
  [4096, 50],
] as const) {
  test(`RingInbox drains a producer thread's ${capacity}-byte ring in order and intact (bursts of ${burst})`, async (t) => {
    const count = 100_000;
    const ringBuffer = SpscRing.create(capacity);
    const bell = Doorbell.create();
    const inbox = new RingInbox(bell, SpscRing.maxPayloadOf(16384));
    t.after(() => inbox.close());
    const sink = new CheckingSink(count);
    inbox.add(new SpscRing(ringBuffer), sink);
    const producer = tsWorker(producerUrl, { ring: ringBuffer, bell, count, burst });
    t.after(() => producer.terminate());
    const failed = new Promise<never>((_, reject) => producer.once('error', reject));
    await Promise.race([sink.done, failed]);
    assert.deepEqual(sink.errors, []);
    assert.equal(sink.received, count);
    assert.ok(inbox.wakeups > 0, 'the consumer slept and was woken by the doorbell');
    // The doorbell rings only a sleeping consumer, so a burst costs fewer wake-ups than packets.
    // On a loaded machine the consumer often catches up mid-burst (about 1.9 packets a wake-up
    // seen at load 15, about 50 when idle); a doorbell rung per packet would give one each.
    assert.ok(inbox.wakeups < count * 0.8, `${inbox.wakeups} wake-ups for ${count} packets`);
    if (capacity === 4096)
      assert.ok(new SpscRing(ringBuffer).dropped > 0, 'a small ring filled up (and the producer retried)');
  });
}

test('RingInbox delivers from several rings sharing one doorbell, and stops for a removed ring', async (t) => {
  const bell = Doorbell.create();
  const inbox = new RingInbox(bell, SpscRing.maxPayloadOf(16384));
  t.after(() => inbox.close());
  const got: string[] = [];
  let wake: () => void = () => {};
  const sink = (name: string): RingSink => ({
    sendRelayed(_buf, length, source) {
      got.push(`${name}${source}:${length}`);
      wake();
      return true;
    },
  });
  const [a, b] = [SpscRing.create(1024), SpscRing.create(1024)];
  const [rxA, rxB] = [new SpscRing(a), new SpscRing(b)];
  inbox.add(rxA, sink('a'));
  inbox.add(rxB, sink('b'));
  const [txA, txB] = [new SpscRing(a), new SpscRing(b)];
  const door = new Doorbell(bell);
  const arrived = (n: number) =>
    new Promise<void>((resolve) => {
      wake = () => {
        if (got.length >= n) resolve();
      };
      wake();
    });
  txA.push(new Uint8Array(3), 3, 1, 0, 0);
  txB.push(new Uint8Array(4), 4, 1, 0, 0);
  txA.push(new Uint8Array(5), 5, 2, 0, 0);
  door.ring();
  await arrived(3);
  assert.deepEqual(
    got.filter((g) => g.startsWith('a')),
    ['a1:3', 'a2:5'],
  );
  assert.deepEqual(
    got.filter((g) => g.startsWith('b')),
    ['b1:4'],
  );
  inbox.remove(rxA);
  txA.push(new Uint8Array(6), 6, 3, 0, 0);
  txB.push(new Uint8Array(7), 7, 2, 0, 0);
  door.ring();
  await arrived(4);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.slice(3), ['b2:7'], 'the removed ring is not drained');
});
