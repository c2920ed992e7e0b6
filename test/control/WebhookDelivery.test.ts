import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventBus } from '../../src/control/EventBus.ts';
import { WebhookDelivery } from '../../src/control/WebhookDelivery.ts';
import type { ServerEvent } from '../../src/control/types.ts';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

/** A receiver on 127.0.0.1 whose behaviour per request the test scripts. */
async function receiver(t: { after: (fn: () => unknown) => void }, handler: Handler): Promise<string> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('WebhookDelivery retries with backoff after two failures and delivers the batch in order', async (t) => {
  const bus = new EventBus(100);
  const attempts: { at: number; body: string; type: string | undefined }[] = [];
  const done = deferred<ServerEvent[]>();
  const url = await receiver(t, (req, body, res) => {
    attempts.push({ at: performance.now(), body, type: req.headers['content-type'] });
    if (attempts.length <= 2) {
      res.writeHead(500).end('boom');
      return;
    }
    res.writeHead(204).end();
    done.resolve(JSON.parse(body) as ServerEvent[]);
  });
  const hook = new WebhookDelivery({ bus, url, baseDelayMs: 20, lingerMs: 5 });
  t.after(() => hook.close());

  bus.emit('endpoint.created', { endpoint_id: 'a' });
  bus.emit('endpoint.created', { endpoint_id: 'b' });
  bus.emit('bridge.created', { bridge_id: 'x' });
  const batch = await done.promise;
  await hook.idle();

  assert.equal(attempts.length, 3);
  assert.deepEqual(batch.map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(batch.map((e) => e.type), ['endpoint.created', 'endpoint.created', 'bridge.created']);
  assert.equal(attempts[0]?.type, 'application/json');
  // the same batch each time, not a partial or reordered one
  assert.equal(attempts[0]?.body, attempts[2]?.body);
  // exponential: second wait (~40 ms) longer than the first (~20 ms), jitter is +-20 %
  const gap1 = attempts[1]!.at - attempts[0]!.at;
  const gap2 = attempts[2]!.at - attempts[1]!.at;
  assert.ok(gap1 >= 15, `first backoff ${gap1} ms`);
  assert.ok(gap2 >= 30, `second backoff ${gap2} ms`);
  assert.deepEqual(hook.stats, { delivered: 3, dropped: 0, retries: 2, queued: 0 });
});

test('WebhookDelivery splits a burst into batches of maxBatch, in seq order', async (t) => {
  const bus = new EventBus(1000);
  const seen: number[] = [];
  const sizes: number[] = [];
  const url = await receiver(t, (_req, body, res) => {
    const batch = JSON.parse(body) as ServerEvent[];
    sizes.push(batch.length);
    for (const e of batch) seen.push(e.seq);
    res.writeHead(200).end();
  });
  const hook = new WebhookDelivery({ bus, url, maxBatch: 10, lingerMs: 1 });
  t.after(() => hook.close());
  for (let i = 0; i < 35; i++) bus.emit('dtmf', { digit: String(i % 10) });
  await hook.idle();
  assert.deepEqual(seen, Array.from({ length: 35 }, (_, i) => i + 1));
  assert.ok(sizes.every((n) => n <= 10), `batch sizes ${sizes.join(',')}`);
  assert.equal(hook.stats.delivered, 35);
});

test('WebhookDelivery drops the oldest events when the queue is full and counts them', async (t) => {
  const bus = new EventBus(1000);
  const received: number[] = [];
  const release = deferred<void>();
  const firstArrived = deferred<void>();
  const url = await receiver(t, (_req, body, res) => {
    for (const e of JSON.parse(body) as ServerEvent[]) received.push(e.seq);
    firstArrived.resolve();
    void release.promise.then(() => res.writeHead(200).end());
  });
  const hook = new WebhookDelivery({ bus, url, maxQueue: 5, maxBatch: 2, lingerMs: 0 });
  t.after(() => hook.close());
  bus.emit('e');
  bus.emit('e');
  // batch [1, 2] is in flight and held by the receiver; the queue now holds at most 5
  await firstArrived.promise;
  for (let i = 0; i < 10; i++) bus.emit('e');
  assert.equal(hook.stats.queued, 5);
  assert.equal(hook.stats.dropped, 5);
  release.resolve();
  await hook.idle();
  // 3..7 were dropped; the newest five survive, in order
  assert.deepEqual(received, [1, 2, 8, 9, 10, 11, 12]);
  assert.deepEqual(hook.stats, { delivered: 7, dropped: 5, retries: 0, queued: 0 });
});

test('WebhookDelivery aborts a request that hangs past timeoutMs and retries it', async (t) => {
  const bus = new EventBus(100);
  let calls = 0;
  const done = deferred<void>();
  const url = await receiver(t, (_req, _body, res) => {
    calls++;
    if (calls === 1) return; // never answer: only the client's timeout ends this one
    res.writeHead(200).end();
    done.resolve();
  });
  const hook = new WebhookDelivery({ bus, url, timeoutMs: 100, baseDelayMs: 5, lingerMs: 0 });
  t.after(() => hook.close());
  bus.emit('e');
  await done.promise;
  await hook.idle();
  assert.equal(calls, 2);
  assert.equal(hook.stats.delivered, 1);
  assert.equal(hook.stats.retries, 1);
});

test('WebhookDelivery does not retry a batch the receiver refuses with 400', async (t) => {
  const bus = new EventBus(100);
  let calls = 0;
  const url = await receiver(t, (_req, _body, res) => {
    calls++;
    res.writeHead(400).end();
  });
  const hook = new WebhookDelivery({ bus, url, baseDelayMs: 5, lingerMs: 0 });
  t.after(() => hook.close());
  bus.emit('e');
  bus.emit('e');
  await hook.idle();
  assert.equal(calls, 1);
  assert.deepEqual(hook.stats, { delivered: 0, dropped: 2, retries: 0, queued: 0 });
});

test('WebhookDelivery.close() aborts the backoff wait, unsubscribes and is idempotent', async (t) => {
  const bus = new EventBus(100);
  let calls = 0;
  const failed = deferred<void>();
  const url = await receiver(t, (_req, _body, res) => {
    calls++;
    res.writeHead(503).end();
    failed.resolve();
  });
  // a one-minute backoff: the test only finishes promptly if close() cuts it short
  const hook = new WebhookDelivery({ bus, url, baseDelayMs: 60_000, lingerMs: 0 });
  assert.equal(bus.listenerCount, 1);
  bus.emit('e');
  await failed.promise;
  const started = performance.now();
  hook.close();
  hook.close();
  await hook.idle();
  assert.ok(performance.now() - started < 1000);
  assert.equal(bus.listenerCount, 0);
  bus.emit('e');
  assert.equal(hook.stats.queued, 0);
  assert.equal(calls, 1);
});
