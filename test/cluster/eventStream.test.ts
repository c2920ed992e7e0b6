import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { ServerEvent } from '../../src/control/types.ts';
import { GrpcTestClient, type EventMessage } from '../api/grpc/grpcClient.ts';
import { api, startInstances, stopInstances, WsEvents, type TestInstance } from '../helpers/eventsCluster.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

/*
 * One event stream across three real instances (processes) on a real redis-server: every
 * instance's /events and gRPC Events deliver the same events in the same order, `?since=`
 * replays exactly, the shared WEBHOOK_URL gets each event once, and events emitted while Redis
 * is away arrive when it returns, none lost, none doubled.
 */

const TYPES = '?types=endpoint.created,endpoint.deleted';
let redis: TestRedis;
let instances: TestInstance[] = [];
const hooks: ServerEvent[] = [];
let hookServer: http.Server;
const skip = needs('redis-server');

before(async () => {
  if (skip.skip) return;
  redis = await TestRedis.start();
  hookServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      hooks.push(...(JSON.parse(body) as ServerEvent[]));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
  instances = await startInstances(redis.url, ['a', 'b', 'c'], { WEBHOOK_URL: hookUrl });
});

after(async () => {
  if (skip.skip) return;
  await stopInstances(instances);
  hookServer.close();
  await redis.close();
});

const keyOf = (e: ServerEvent) => `${e.instance}:${e.type}:${e.endpoint_id}`;
const endpointEvents = (events: ServerEvent[]) =>
  events.filter((e) => e.type === 'endpoint.created' || e.type === 'endpoint.deleted');

async function createOn(inst: TestInstance): Promise<string> {
  const res = await api<{ id: string }>(inst.api, 'POST', '/endpoints', {});
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

function grpcEvents(inst: TestInstance, request: Record<string, unknown>) {
  const client = new GrpcTestClient(inst.grpcPort);
  const got: ServerEvent[] = [];
  const stream = client.events(request);
  stream.on('data', (m: EventMessage) => got.push(JSON.parse(m.json) as ServerEvent));
  stream.on('error', () => {});
  return {
    got,
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  'cluster /events and gRPC Events on every instance deliver one stream in one order, with exact replay',
  skip,
  async (t) => {
    const [a, b, c] = instances as [TestInstance, TestInstance, TestInstance];
    const readers = await Promise.all(instances.map((i) => WsEvents.open(i.api, TYPES)));
    t.after(() => readers.forEach((r) => r.close()));
    const grpc = grpcEvents(c, { types: ['endpoint.created', 'endpoint.deleted'] });
    t.after(() => grpc.close());
    await new Promise((r) => setTimeout(r, 200)); // the gRPC stream is registered on its first message otherwise

    // created through each instance in turn, some concurrently (placement may put them anywhere),
    // then deleted through yet another instance (forwarded to the owner)
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) ids.push(...(await Promise.all([createOn(a), createOn(b), createOn(c)])));
    for (const [i, id] of ids.entries()) {
      const via = instances[(i + 1) % 3] as TestInstance;
      assert.equal((await api(via.api, 'DELETE', `/endpoints/${id}`)).status, 204);
    }
    const total = ids.length * 2;

    for (const r of readers) await r.until((ev) => endpointEvents(ev).length >= total, 10_000, 'the endpoint events');
    await until(() => grpc.got.length >= total, 10_000, 'the gRPC events');
    const first = endpointEvents((readers[0] as WsEvents).events);
    assert.equal(first.length, total);
    // one order everywhere, the same events to the byte
    for (const r of readers.slice(1)) assert.deepEqual(endpointEvents(r.events), first);
    assert.deepEqual(grpc.got, first);
    for (let i = 1; i < first.length; i++) assert.ok((first[i] as ServerEvent).seq > (first[i - 1] as ServerEvent).seq);
    // each event names the instance that owns the endpoint: its creation and deletion agree
    const createdOn = new Map(
      first.filter((e) => e.type === 'endpoint.created').map((e) => [e.endpoint_id, e.instance]),
    );
    assert.deepEqual([...createdOn.keys()].sort(), [...ids].sort());
    for (const e of first) {
      assert.ok(['a', 'b', 'c'].includes(e.instance as string), JSON.stringify(e));
      assert.equal(e.instance, createdOn.get(e.endpoint_id), JSON.stringify(e));
    }
    assert.equal(new Set(first.map(keyOf)).size, total);

    // exact replay from a position, on another instance, WebSocket and gRPC
    const position = (first[4] as ServerEvent).seq;
    const replay = await WsEvents.open(b.api, `${TYPES}&since=${position}`);
    t.after(() => replay.close());
    await replay.until((ev) => ev.length >= total - 5, 5000, 'the replay');
    assert.deepEqual(replay.events, first.slice(5));
    const grpcReplay = grpcEvents(a, { since: position, types: ['endpoint.created', 'endpoint.deleted'] });
    t.after(() => grpcReplay.close());
    await until(() => grpcReplay.got.length >= total - 5, 5000, 'the gRPC replay');
    assert.deepEqual(grpcReplay.got, first.slice(5));
  },
);

test(
  'cluster webhooks: a WEBHOOK_URL shared by every instance gets each event once, in stream order',
  skip,
  async (t) => {
    const [a, b, c] = instances as [TestInstance, TestInstance, TestInstance];
    // since=0: every event the stream still holds, to compare with what the webhook got
    const reader = await WsEvents.open(b.api, '?since=0');
    t.after(() => reader.close());
    const ids = await Promise.all([createOn(a), createOn(b), createOn(c)]);
    await api(a.api, 'DELETE', `/endpoints/${ids[0]}`);
    await api(b.api, 'DELETE', `/endpoints/${ids[1]}`);
    await api(c.api, 'DELETE', `/endpoints/${ids[2]}`);
    const mine = (e: ServerEvent) => ids.includes(e.endpoint_id as string);
    await reader.until((ev) => ev.filter(mine).length >= 6, 10_000, 'the endpoint events');
    const last = reader.events.filter(mine).at(-1) as ServerEvent;
    await until(() => hooks.some((e) => e.seq >= last.seq), 10_000, 'the webhook');
    // give a second (or third) copy time to show up, had two instances both posted
    await new Promise((r) => setTimeout(r, 500));
    const seqs = hooks.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length, `duplicates in ${seqs}`);
    for (let i = 1; i < seqs.length; i++)
      assert.ok((seqs[i] as number) > (seqs[i - 1] as number), `out of order: ${seqs}`);
    const hooked = hooks.filter(mine);
    assert.deepEqual(hooked, reader.events.filter(mine));
    // every event the stream carried since the webhook began, none skipped
    const fromHook = hooks[0]!.seq;
    assert.deepEqual(
      seqs,
      reader.events.filter((e) => e.seq >= fromHook && e.seq <= last.seq).map((e) => e.seq),
    );
  },
);

test(
  'cluster events: Redis restarted mid-test, events emitted meanwhile arrive after it returns, none lost or doubled',
  skip,
  async (t) => {
    const [a, b, c] = instances as [TestInstance, TestInstance, TestInstance];
    const readers = await Promise.all(instances.map((i) => WsEvents.open(i.api, TYPES)));
    t.after(() => readers.forEach((r) => r.close()));
    const live: Array<[TestInstance, string]> = [];
    for (const inst of [a, b, c, a, b, c]) live.push([inst, await createOn(inst)]);
    for (const r of readers) await r.until((ev) => endpointEvents(ev).length >= 6, 10_000, 'the created events');

    await redis.stop();
    // the instances keep serving what they own: these deletions happen while Redis is away
    for (const [inst, id] of live) assert.equal((await api(inst.api, 'DELETE', `/endpoints/${id}`)).status, 204);
    await new Promise((r) => setTimeout(r, 300));
    for (const r of readers) assert.equal(endpointEvents(r.events).length, 6, 'nothing can reach the stream yet');
    await redis.start();

    for (const r of readers) await r.until((ev) => endpointEvents(ev).length >= 12, 15_000, 'the deleted events');
    await new Promise((r) => setTimeout(r, 500)); // a doubled append would show by now
    const first = endpointEvents((readers[0] as WsEvents).events);
    assert.equal(first.length, 12);
    for (const r of readers.slice(1)) assert.deepEqual(endpointEvents(r.events), first);
    const deleted = first.filter((e) => e.type === 'endpoint.deleted');
    assert.deepEqual(deleted.map((e) => e.endpoint_id).sort(), live.map(([, id]) => id).sort());
    for (let i = 1; i < first.length; i++) assert.ok((first[i] as ServerEvent).seq > (first[i - 1] as ServerEvent).seq);
    // each instance's deletions in the order it made them
    for (const inst of [a, b, c]) {
      const order = live.filter(([i]) => i === inst).map(([, id]) => id);
      assert.deepEqual(
        deleted.filter((e) => e.instance === inst.id).map((e) => e.endpoint_id),
        order,
      );
    }
  },
);
