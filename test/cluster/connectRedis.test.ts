import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ClusterKeys } from '../../src/cluster/ClusterKeys.ts';
import { connectRedis } from '../../src/cluster/connectRedis.ts';
import { loadConfig } from '../../src/config/config.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

test(
  'connectRedis fails commands at once during an outage and reconnects when Redis returns',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const redis = connectRedis({ redisUrl: server.url }, 'test');
    t.after(() => redis.disconnect());
    await once(redis, 'ready');
    const keys = new ClusterKeys('t');
    await redis.set(keys.member('a'), '1');
    assert.equal(await redis.get(keys.member('a')), '1');

    await server.stop();
    const started = performance.now();
    await assert.rejects(redis.get(keys.member('a')));
    // no offline queue: the command is refused, not held until a reconnect (2 s connect timeout)
    assert.ok(performance.now() - started < 1000, `refused after ${performance.now() - started} ms`);

    await server.start();
    await once(redis, 'ready');
    assert.equal(await redis.get(keys.member('a')), null, 'a restarted Redis without persistence is empty');
  },
);

test('REDIS_URL turns the cluster on; its settings are checked at start', () => {
  assert.equal(loadConfig({}).cluster, null);
  const c = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', INSTANCE_ID: 'a1', CLUSTER_NAME: 'prod' }).cluster;
  assert.deepEqual(c, {
    redisUrl: 'redis://127.0.0.1:6379',
    name: 'prod',
    instanceId: 'a1',
    heartbeatMs: 1000,
    memberTtlMs: 5000,
    advertiseApiUrl: null,
    advertiseGrpcUrl: null,
  });
  assert.match(loadConfig({ REDIS_URL: 'redis://x' }).cluster!.instanceId, /^[A-Za-z0-9_.-]+-\d+-[0-9a-f]{6}$/);
  assert.throws(() => loadConfig({ REDIS_URL: 'http://x' }), /REDIS_URL/);
  assert.throws(() => loadConfig({ REDIS_URL: 'redis://x', CLUSTER_NAME: 'a b' }), /CLUSTER_NAME/);
  assert.throws(
    () => loadConfig({ REDIS_URL: 'redis://x', CLUSTER_HEARTBEAT_MS: '1000', CLUSTER_MEMBER_TTL_MS: '1500' }),
    /at least twice/,
  );
});
