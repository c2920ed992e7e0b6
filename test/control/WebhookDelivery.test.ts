import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventBus } from '../../src/control/EventBus.ts';
import { WebhookDelivery } from '../../src/control/WebhookDelivery.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebhookSigner } from '../../src/common/WebhookSigner.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createTestApp } from '../api/http/testApp.ts';

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
  assert.deepEqual(
    batch.map((e) => e.seq),
    [1, 2, 3],
  );
  assert.deepEqual(
    batch.map((e) => e.type),
    ['endpoint.created', 'endpoint.created', 'bridge.created'],
  );
  assert.equal(attempts[0]?.type, 'application/json');
  // the same batch each time, not a partial or reordered one
  assert.equal(attempts[0]?.body, attempts[2]?.body);
  // exponential: second wait (~40 ms) longer than the first (~20 ms), jitter is +-20 %
  const gap1 = attempts[1]!.at - attempts[0]!.at;
  const gap2 = attempts[2]!.at - attempts[1]!.at;
  assert.ok(gap1 >= 15, `first backoff ${gap1} ms`);
  assert.ok(gap2 >= 30, `second backoff ${gap2} ms`);
  assert.deepEqual(hook.stats, {
    delivered: 3,
    dropped: 0,
    droppedBy: { queue_full: 0, rejected: 0, attempts_exhausted: 0, shutdown: 0 },
    retries: 2,
    queued: 0,
  });
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
  assert.deepEqual(
    seen,
    Array.from({ length: 35 }, (_, i) => i + 1),
  );
  assert.ok(
    sizes.every((n) => n <= 10),
    `batch sizes ${sizes.join(',')}`,
  );
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
  assert.deepEqual(hook.stats, {
    delivered: 7,
    dropped: 5,
    droppedBy: { queue_full: 5, rejected: 0, attempts_exhausted: 0, shutdown: 0 },
    retries: 0,
    queued: 0,
  });
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
  assert.deepEqual(hook.stats, {
    delivered: 0,
    dropped: 2,
    droppedBy: { queue_full: 0, rejected: 2, attempts_exhausted: 0, shutdown: 0 },
    retries: 0,
    queued: 0,
  });
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
  // the batch waiting for its retry was discarded, and counted as such
  assert.deepEqual(hook.stats.droppedBy, { queue_full: 0, rejected: 0, attempts_exhausted: 0, shutdown: 1 });
});

/** Standard Webhooks verification written from the spec, independent of WebhookSigner. */
function verify(secret: string, headers: http.IncomingHttpHeaders, body: string, toleranceS = 300): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string') return false;
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) return false;
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const expected = Buffer.from(createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64'));
  // a space-separated list of "version,signature"
  return sigs.split(' ').some((s) => {
    const [version, sig] = s.split(',');
    if (version !== 'v1' || sig === undefined) return false;
    const got = Buffer.from(sig);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

test('WebhookDelivery signs every attempt per Standard Webhooks; the id stays across retries; a tampered body fails', async (t) => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const bus = new EventBus(100);
  const attempts: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const done = deferred<void>();
  const url = await receiver(t, (req, body, res) => {
    attempts.push({ headers: req.headers, body });
    if (attempts.length === 1) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(204).end();
    done.resolve();
  });
  const hook = new WebhookDelivery({ bus, url, baseDelayMs: 5, lingerMs: 0, signer: new WebhookSigner(secret) });
  t.after(() => hook.close());
  bus.emit('endpoint.created', { endpoint_id: 'a' });
  await done.promise;
  await hook.idle();

  assert.equal(attempts.length, 2);
  for (const a of attempts) {
    assert.ok(verify(secret, a.headers, a.body), 'signature verifies');
    assert.match(String(a.headers['webhook-id']), /^msg_[0-9a-f]{32}$/);
  }
  assert.equal(attempts[0]?.headers['webhook-id'], attempts[1]?.headers['webhook-id']);
  const a = attempts[1]!;
  assert.equal(verify(secret, a.headers, a.body.replace('"a"', '"b"')), false, 'tampered body');
  assert.equal(verify(`whsec_${randomBytes(32).toString('base64')}`, a.headers, a.body), false, 'other secret');
  assert.equal(
    verify(secret, { ...a.headers, 'webhook-timestamp': String(Number(a.headers['webhook-timestamp']) + 1) }, a.body),
    false,
    'other timestamp',
  );
  assert.equal(verify(secret, { ...a.headers, 'webhook-id': 'msg_other' }, a.body), false, 'other id');

  // the next delivery gets its own id
  const next = deferred<http.IncomingHttpHeaders>();
  const url2 = await receiver(t, (req, _body, res) => {
    res.writeHead(204).end();
    next.resolve(req.headers);
  });
  const hook2 = new WebhookDelivery({ bus, url: url2, lingerMs: 0, signer: new WebhookSigner(secret) });
  t.after(() => hook2.close());
  bus.emit('e');
  const h2 = await next.promise;
  assert.notEqual(h2['webhook-id'], a.headers['webhook-id']);
});

test('WebhookSigner takes a raw secret as its bytes and refuses short or malformed ones', () => {
  const raw = 'a-raw-secret-of-enough-bytes';
  const signer = new WebhookSigner(raw, () => 1_700_000_000_123);
  const h = signer.headers('msg_1', '[]');
  assert.equal(h['webhook-timestamp'], '1700000000');
  assert.equal(
    h['webhook-signature'],
    `v1,${createHmac('sha256', raw).update('msg_1.1700000000.[]').digest('base64')}`,
  );
  assert.throws(() => new WebhookSigner('short'), /at least 16 bytes/);
  assert.throws(() => new WebhookSigner('whsec_not base64!'), /base64/);
  assert.throws(() => loadConfig({ WEBHOOK_SECRET: 'short' }), /WEBHOOK_SECRET/);
  assert.equal(loadConfig({ WEBHOOK_SECRET: raw }).webhookSecret, raw);
});

/** A pino logger whose lines the test reads. */
function capturingLogger(): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  next: () => Promise<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<(l: Record<string, unknown>) => void> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = JSON.parse(chunk.toString()) as Record<string, unknown>;
      lines.push(line);
      waiters.shift()?.(line);
      cb();
    },
  });
  const logger = pino({ level: 'warn' }, stream);
  return { logger, lines, next: () => new Promise((r) => waiters.push(r)) };
}

test('WebhookDelivery with a hanging receiver counts every dropped event, logs rate-limited and exports metrics', async (t) => {
  const bus = new EventBus(100);
  const arrived = deferred<void>();
  const url = await receiver(t, () => arrived.resolve()); // never answers
  const log = capturingLogger();
  const hook = new WebhookDelivery({
    bus,
    url,
    maxQueue: 10,
    maxBatch: 5,
    lingerMs: 0,
    timeoutMs: 60_000,
    logger: log.logger,
    dropLogIntervalMs: 50,
  });
  t.after(() => hook.close());
  bus.emit('e');
  await arrived.promise; // event 1 is in flight, held by the receiver

  for (let i = 0; i < 40; i++) bus.emit('e');
  assert.deepEqual(hook.stats.droppedBy, { queue_full: 30, rejected: 0, attempts_exhausted: 0, shutdown: 0 });
  assert.equal(hook.stats.queued, 10);
  // the first drop is reported at once, the rest in one line when the interval ends
  const warns = () => log.lines.filter((l) => l.msg === 'webhook events dropped');
  assert.equal(warns().length, 1);
  assert.equal(warns()[0]?.dropped, 1);
  const summary = await log.next();
  assert.equal(summary.msg, 'webhook events dropped');
  assert.equal(summary.dropped, 29);
  assert.deepEqual(summary.by, { queue_full: 29 });
  assert.equal(summary.dropped_total, 30);

  const { app } = await createTestApp(t, { metricsRegistries: [hook.registry] });
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(body, /^# HELP msc_webhook_events_dropped_total .+$/m);
  assert.match(body, /^# TYPE msc_webhook_events_dropped_total counter$/m);
  assert.match(body, /^msc_webhook_events_dropped_total\{reason="queue_full"\} 30$/m);
  assert.match(body, /^msc_webhook_events_dropped_total\{reason="rejected"\} 0$/m);
  assert.match(body, /^# TYPE msc_webhook_events_queued gauge$/m);
  assert.match(body, /^msc_webhook_events_queued 10$/m);
  assert.match(body, /^# TYPE msc_webhook_events_delivered_total counter$/m);
  assert.match(body, /^msc_webhook_events_delivered_total 0$/m);
  assert.match(body, /^# TYPE msc_webhook_retries_total counter$/m);
  // the API's own families are still there
  assert.match(body, /^# TYPE msc_http_requests_total counter$/m);

  // close() discards the 10 queued and the one in flight: counted and reported
  hook.close();
  assert.deepEqual(hook.stats.droppedBy, { queue_full: 30, rejected: 0, attempts_exhausted: 0, shutdown: 11 });
  assert.deepEqual(warns().at(-1)?.by, { shutdown: 11 });
});
