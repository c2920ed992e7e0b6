import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { ClusterKeys } from '../../src/cluster/ClusterKeys.ts';
import { connectRedis } from '../../src/cluster/connectRedis.ts';
import { Failover } from '../../src/cluster/Failover.ts';
import { LeaderElection } from '../../src/cluster/LeaderElection.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

async function connect(server: TestRedis, t: { after(fn: () => void): void }): Promise<Redis> {
  const redis = connectRedis({ redisUrl: server.url }, 'test');
  t.after(() => redis.disconnect());
  await once(redis, 'ready');
  return redis;
}

test(
  'LeaderElection: one leader; when it stops renewing another takes over within the lease',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const keys = new ClusterKeys('le');
    const ttlMs = 600;
    const intervalMs = 100;
    const ra = await connect(server, t);
    const rb = await connect(server, t);
    const a = new LeaderElection({ redis: ra, keys, instanceId: 'a', ttlMs, intervalMs });
    const b = new LeaderElection({ redis: rb, keys, instanceId: 'b', ttlMs, intervalMs });
    t.after(() => Promise.all([a.close(), b.close()]));
    await a.tick();
    await b.tick();
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    a.start();
    b.start();
    // renewals keep the lease: b never gets it while a lives (several leases long)
    await new Promise((r) => setTimeout(r, 3 * ttlMs));
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.equal(await rb.get(keys.leader), 'a');

    // a is cut off from Redis (as if killed): b leads within the lease plus a round; a steps down by itself
    const tookOver = new Promise<number>((resolve) => b.onChange((l) => l && resolve(performance.now())));
    const aStepsDown = new Promise<number>((resolve) => a.onChange((l) => !l && resolve(performance.now())));
    const cut = performance.now();
    ra.disconnect();
    const [downAt, upAt] = await Promise.all([aStepsDown, tookOver]);
    assert.ok(upAt - cut <= ttlMs + 3 * intervalMs, `b took over ${upAt - cut} ms after a went silent`);
    // a stopped acting as leader before b started: never two leaders
    assert.ok(downAt <= upAt, `a stepped down at ${downAt - cut} ms, b led at ${upAt - cut} ms`);
    assert.equal(await rb.get(keys.leader), 'b');
  },
);

test('LeaderElection.close() resigns, so the next member leads at once', needs('redis-server'), async (t) => {
  const server = await TestRedis.start();
  t.after(() => server.close());
  const keys = new ClusterKeys('le2');
  const redis = await connect(server, t);
  const a = new LeaderElection({ redis, keys, instanceId: 'a', ttlMs: 60_000, intervalMs: 1000 });
  const b = new LeaderElection({ redis, keys, instanceId: 'b', ttlMs: 60_000, intervalMs: 1000 });
  t.after(() => b.close());
  await a.tick();
  await a.close();
  await b.tick();
  assert.equal(b.isLeader, true);
});

test(
  'Failover.sweep() reports a silent member once: endpoints, flows, instance.lost; releases its keys',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const keys = new ClusterKeys('fo');
    const redis = await connect(server, t);
    const now = Date.now();
    // x: silent for 6 s, its record expired; y: alive; z: stale score but its record is alive
    await redis.zadd(keys.members, now - 6000, 'x', now - 100, 'y', now - 6000, 'z', now, 'leader');
    await redis.set(keys.member('y'), '{}');
    await redis.set(keys.member('z'), '{}');
    await redis.hset(keys.owner('e2'), { instance: 'x', kind: 'endpoint', affinity: 'call-1' });
    await redis.hset(keys.owner('e1'), { instance: 'x', kind: 'endpoint', affinity: 'call-1' });
    await redis.hset(keys.owner('f1'), { instance: 'x', kind: 'flow', endpoint_id: 'e1' });
    // finished sessions kept owned: one whose end the stream reported, one whose endpoint is gone
    await redis.hset(keys.owner('f2'), { instance: 'x', kind: 'flow', endpoint_id: 'e2' });
    await redis.hset(keys.owner('f3'), { instance: 'x', kind: 'flow', endpoint_id: 'e-gone' });
    await redis.hset(keys.owner('b1'), { instance: 'x', kind: 'bridge' });
    await redis.hset(keys.owner('moved'), { instance: 'y', kind: 'endpoint' });
    await redis.sadd(keys.owned('x'), 'e1', 'e2', 'f1', 'f2', 'f3', 'b1', 'moved');
    await redis.sadd(keys.affinities('x'), 'call-1', 'call-2');
    await redis.set(keys.affinity('call-1'), 'x');
    await redis.set(keys.affinity('call-2'), 'y'); // already taken over: not ours to release

    const published: Array<{ instance: string; type: string; payload: Record<string, unknown> }> = [];
    const failover = new Failover({
      redis,
      keys,
      instanceId: 'leader',
      memberTtlMs: 5000,
      publish: (instance, type, payload) =>
        published.push({ instance, type, payload: payload as Record<string, unknown> }),
      flowSessions: () => ({ flows: new Map([['f1', 'main-menu']]), ended: new Set(['f2']) }),
    });
    const reports = await failover.sweep(now);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.instance, 'x');
    assert.ok(reports[0]!.silentMs >= 6000);
    assert.deepEqual(
      published.map((p) => [p.instance, p.type]),
      [
        ['x', 'endpoint.deleted'],
        ['x', 'endpoint.deleted'],
        ['x', 'flow.failed'],
        ['x', 'instance.lost'],
      ],
    );
    assert.deepEqual(published[0]!.payload, { endpoint_id: 'e1', reason: 'instance_lost' });
    assert.deepEqual(published[1]!.payload, { endpoint_id: 'e2', reason: 'instance_lost' });
    assert.deepEqual(published[2]!.payload, {
      session_id: 'f1',
      flow: 'main-menu',
      endpoint_id: 'e1',
      error: { code: 'INSTANCE_LOST', message: 'instance x stopped heartbeating', step: null },
      variables: {},
    });
    assert.deepEqual(published[3]!.payload, {
      endpoints: ['e1', 'e2'],
      flow_sessions: ['f1'],
      affinities: ['call-1', 'call-2'],
      reported_by: 'leader',
      last_heartbeat_at: new Date(now - 6000).toISOString(),
    });
    // released, deleted, removed; what another member holds stays
    assert.equal(await redis.get(keys.affinity('call-1')), null);
    assert.equal(await redis.get(keys.affinity('call-2')), 'y');
    for (const id of ['e1', 'e2', 'f1', 'f2', 'f3', 'b1']) assert.equal(await redis.exists(keys.owner(id)), 0, id);
    assert.equal(await redis.hget(keys.owner('moved'), 'instance'), 'y');
    assert.equal(await redis.exists(keys.owned('x')), 0);
    assert.equal(await redis.exists(keys.affinities('x')), 0);
    assert.deepEqual((await redis.zrange(keys.members, 0, -1)).sort(), ['leader', 'y', 'z']);

    // once: a second sweep (or a second leader racing it) reports nothing more
    await redis.zadd(keys.members, now - 6000, 'x');
    const again = new Failover({
      redis,
      keys,
      instanceId: 'other',
      memberTtlMs: 5000,
      publish: () => assert.fail('reported twice'),
    });
    assert.deepEqual(await again.sweep(now), []);
    assert.deepEqual(await failover.sweep(now), []);
  },
);
