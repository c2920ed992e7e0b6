import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import type { ServerEvent } from '../../../../src/control/types.ts';
import { createTestApp, type TestAppOptions } from '../testApp.ts';

interface Message {
  seq?: number;
  type: string;
  [k: string]: unknown;
}

/** A /events client that queues every frame, so a test awaits messages instead of sleeping. */
class EventsClient {
  readonly ws: WebSocket;
  readonly received: Message[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as Message);
      this.#waiters = this.#waiters.filter((w) => {
        if (this.received.length < w.count) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves once `count` messages have arrived in all. */
  waitFor(count: number): Promise<Message[]> {
    if (this.received.length >= count) return Promise.resolve(this.received);
    return new Promise((resolve) => this.#waiters.push({ count, resolve: () => resolve(this.received) }));
  }

  get seqs(): (number | undefined)[] {
    return this.received.map((m) => m.seq);
  }
}

async function setup(t: TestContext, opts: TestAppOptions = {}) {
  const testApp = await createTestApp(t, opts);
  await testApp.app.listen({ host: '127.0.0.1', port: 0 });
  const base = `ws://127.0.0.1:${(testApp.app.server.address() as AddressInfo).port}/events`;
  const connect = async (query = '', clientOpts: WebSocket.ClientOptions = {}): Promise<EventsClient> => {
    const client = new EventsClient(base + query, clientOpts);
    t.after(() => client.ws.terminate());
    await client.opened;
    return client;
  };
  return { ...testApp, base, connect };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function metric(app: FastifyInstance, name: string): Promise<number> {
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

test('GET /events streams live events as JSON text frames in seq order', async (t) => {
  const { control, connect } = await setup(t);
  const client = await connect();
  control.events.emit('endpoint.created', { endpoint_id: 'ep-1' });
  control.events.emit('dtmf', { endpoint_id: 'ep-1', digit: '5' });
  const [first, second] = await client.waitFor(2);
  assert.equal(first?.type, 'endpoint.created');
  assert.equal(first?.endpoint_id, 'ep-1');
  assert.equal(typeof first?.time, 'string');
  assert.deepEqual([first?.seq, second?.seq], [1, 2]);
  assert.equal(second?.digit, '5');
});

test('GET /events?since=SEQ replays what was missed, then goes live without duplicates or gaps', async (t) => {
  const { control, connect, base } = await setup(t);
  for (let i = 0; i < 10; i++) control.events.emit('e', { i });
  const client = await connect('?since=4');
  // events emitted while another connection is being set up land in replay or live, never both
  const racing = new EventsClient(`${base}?since=0`);
  t.after(() => racing.ws.terminate());
  for (let i = 0; i < 5; i++) control.events.emit('e', { i });
  await racing.opened;
  for (let i = 0; i < 5; i++) control.events.emit('e', { i });
  await client.waitFor(6 + 10);
  assert.deepEqual(client.seqs, range(5, 20));
  await racing.waitFor(20);
  assert.deepEqual(racing.seqs, range(1, 20));
});

test('GET /events?since=0 on an empty bus sends nothing before the first live event', async (t) => {
  const { control, connect } = await setup(t);
  const client = await connect('?since=0');
  control.events.emit('first');
  const [m] = await client.waitFor(1);
  assert.equal(m?.type, 'first');
  assert.equal(m?.seq, 1);
});

test('GET /events?since=SEQ older than the buffer first sends events.gap with oldest_seq', async (t) => {
  const { control, connect } = await setup(t, { eventBufferSize: 100 });
  for (let i = 0; i < 250; i++) control.events.emit('e');
  const client = await connect('?since=10');
  control.events.emit('live');
  const msgs = await client.waitFor(1 + 100 + 1);
  assert.deepEqual(msgs[0], { type: 'events.gap', requested_since: 10, oldest_seq: 151, last_seq: 250 });
  assert.deepEqual(client.seqs.slice(1), range(151, 251));
});

test('GET /events?since=SEQ from before a restart (beyond last_seq) gets events.gap too', async (t) => {
  const { control, connect } = await setup(t);
  control.events.emit('e');
  const client = await connect('?since=5000');
  control.events.emit('e');
  const msgs = await client.waitFor(2);
  assert.equal(msgs[0]?.type, 'events.gap');
  assert.equal(msgs[0]?.oldest_seq, 1);
  assert.equal(msgs[1]?.seq, 2);
});

test('GET /events?types= keeps only events whose type starts with a listed prefix, in replay and live', async (t) => {
  const { control, connect } = await setup(t);
  control.events.emit('endpoint.created');
  control.events.emit('dtmf');
  control.events.emit('bridge.created');
  const client = await connect('?since=0&types=bridge.,dtmf');
  control.events.emit('endpoint.closed');
  control.events.emit('bridge.deleted');
  const msgs = await client.waitFor(3);
  assert.deepEqual(
    msgs.map((m) => m.type),
    ['dtmf', 'bridge.created', 'bridge.deleted'],
  );
});

test('GET /events rejects a malformed since with 400 before upgrading', async (t) => {
  const { base } = await setup(t);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${base}?since=abc`);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('upgraded')));
    ws.on('error', () => {}); // terminate() after the refusal reports "closed before established"
  });
  assert.equal(status, 400);
});

test('GET /events over plain HTTP answers 426 Upgrade Required', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/events' });
  assert.equal(res.statusCode, 426);
  assert.equal(res.json<{ error: { code: string } }>().error.code, 'UPGRADE_REQUIRED');
});

test('GET /events closes a client that stops reading with 1013, without stalling the emitter or other clients', async (t) => {
  const { app, control, connect } = await setup(t);
  const slow = await connect('?since=0');
  const healthy = await connect();
  control.events.emit('hello');
  await slow.waitFor(1);
  await healthy.waitFor(1);
  const N = 50_000;
  const CHUNK = 1000;
  const padding = 'x'.repeat(200);
  /** Emits `count` events in chunks, letting the healthy client read between them; returns ms spent emitting. */
  const emitChunks = async (from: number, count: number) => {
    let emitMs = 0;
    let worstChunkMs = 0;
    for (let sent = 0; sent < count; sent += CHUNK) {
      const started = performance.now();
      for (let i = 0; i < CHUNK; i++) control.events.emit('load', { i: from + sent + i, padding });
      const ms = performance.now() - started;
      emitMs += ms;
      worstChunkMs = Math.max(worstChunkMs, ms);
      // both clients live in this process: let the healthy one read between chunks (the slow one
      // stays paused), by waiting for its messages rather than for time
      await healthy.waitFor(1 + from + sent + CHUNK);
    }
    return { emitMs, worstChunkMs };
  };
  // The same run's cost of emitting while both clients read: the yardstick for the stalled phase.
  const BASE = 5000;
  const base = await emitChunks(0, BASE);
  await slow.waitFor(1 + BASE);

  // stop reading: the kernel buffers fill, then the server's ws send buffer grows
  (slow.ws as unknown as { _socket: Socket })._socket.pause();
  const { emitMs, worstChunkMs } = await emitChunks(BASE, N);
  const perEvent = emitMs / N;
  const basePerEvent = base.emitMs / BASE;
  t.diagnostic(
    `${N} events emitted in ${emitMs.toFixed(0)} ms (worst ${CHUNK}-event chunk ${worstChunkMs.toFixed(1)} ms) with one stalled client; ${basePerEvent.toFixed(4)} ms/event with none`,
  );
  // A stalled client must not make emitting dearer than serving two live ones (plus slack for GC).
  assert.ok(
    perEvent < 3 * basePerEvent + 0.02,
    `emitting took ${perEvent.toFixed(4)} ms/event against ${basePerEvent.toFixed(4)} with no stalled client`,
  );

  assert.equal(await metric(app, 'msc_ws_slow_consumer_disconnects_total'), 1);
  assert.equal(await metric(app, 'msc_ws_event_clients'), 1);
  // the healthy client got every event, in order
  assert.equal(healthy.received.length, 1 + BASE + N);
  assert.deepEqual(healthy.seqs, range(1, BASE + N + 1));

  // once it reads again it drains what was buffered and sees the close code
  (slow.ws as unknown as { _socket: Socket })._socket.resume();
  const { code } = await slow.closed;
  assert.equal(code, 1013);
  t.diagnostic(`the stalled client had ${slow.received.length} events on the wire or buffered when cut off`);
  assert.ok(slow.received.length < BASE + N, `slow client got ${slow.received.length} events before the cut`);
  // what it got is a gap-free prefix, so it can reconnect with since=<last seq>
  assert.deepEqual(slow.seqs, range(1, slow.received.length));
});

test('GET /events drops a client that stops answering pings', async (t) => {
  const { app, connect } = await setup(t, { events: { pingIntervalMs: 20 } });
  const answering = await connect();
  const pinged = new Promise<void>((resolve) => answering.ws.once('ping', () => resolve()));
  const silent = await connect('', { autoPong: false });
  await pinged;
  const { code } = await silent.closed;
  assert.equal(code, 1006); // terminated, no close handshake
  assert.equal(answering.ws.readyState, WebSocket.OPEN);
  assert.equal(await metric(app, 'msc_ws_event_clients'), 1);
});

test('app.close() closes /events clients with 1001 and unsubscribes from the bus', async (t) => {
  const { app, control, connect } = await setup(t);
  const client = await connect();
  const listeners = control.events.listenerCount;
  assert.ok(listeners >= 1);
  await app.close();
  const { code } = await client.closed;
  assert.equal(code, 1001);
  assert.equal(control.events.listenerCount, listeners - 1);
  const e: ServerEvent = control.events.emit('after.close');
  assert.equal(e.seq, 1);
});
