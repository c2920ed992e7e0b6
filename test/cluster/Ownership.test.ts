import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ClusterKeys } from '../../src/cluster/ClusterKeys.ts';
import { connectRedis } from '../../src/cluster/connectRedis.ts';
import { Ownership } from '../../src/cluster/Ownership.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

test(
  'Ownership: records, affinity keys, retention, resync after an empty restart, close',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const redis = connectRedis({ redisUrl: server.url }, 'test');
    t.after(() => redis.disconnect());
    await once(redis, 'ready');
    const keys = new ClusterKeys('own');
    const own = new Ownership({ redis, keys, instanceId: 'me', logger: silentLogger });

    // two legs with one key, a playback, a flow session
    await own.claim('ep1', { kind: 'endpoint', affinity: 'call-1' });
    await own.claim('ep2', { kind: 'endpoint', affinity: 'call-1' });
    await own.claim('pb1', { kind: 'playback', endpointId: 'ep1' });
    await own.claim('fl1', { kind: 'flow', endpointId: 'ep1' });
    assert.deepEqual(await redis.hgetall(keys.owner('ep1')), { instance: 'me', kind: 'endpoint', affinity: 'call-1' });
    assert.deepEqual(await redis.hgetall(keys.owner('pb1')), { instance: 'me', kind: 'playback', endpoint_id: 'ep1' });
    assert.deepEqual((await redis.smembers(keys.owned('me'))).sort(), ['ep1', 'ep2', 'fl1', 'pb1']);
    assert.equal(await redis.get(keys.affinity('call-1')), 'me');

    const settle = () => new Promise((r) => setTimeout(r, 100));
    // a playback that ends goes; a flow session that ends stays (its owner still serves its outcome)
    own.end('pb1');
    own.end('fl1');
    await settle();
    assert.equal(await redis.exists(keys.owner('pb1')), 0);
    assert.equal(await redis.hget(keys.owner('fl1'), 'instance'), 'me');
    // the affinity key goes with the last leg holding it, not before
    own.end('ep1');
    await settle();
    assert.equal(await redis.get(keys.affinity('call-1')), 'me');
    own.end('ep2');
    await settle();
    assert.equal(await redis.get(keys.affinity('call-1')), null);
    assert.deepEqual(await redis.smembers(keys.affinities('me')), []);

    // a key another instance took over in the meantime is not released by the old holder
    await own.claim('ep3', { kind: 'endpoint', affinity: 'call-2' });
    await redis.set(keys.affinity('call-2'), 'other');
    own.end('ep3');
    await settle();
    assert.equal(await redis.get(keys.affinity('call-2')), 'other');

    // Redis restarts empty, and ep4 ended while it was away: resync writes back what is owned only
    await own.claim('ep4', { kind: 'endpoint', affinity: 'call-3' });
    await own.claim('ep5', { kind: 'endpoint', affinity: 'call-4' });
    await server.stop();
    own.end('ep4');
    await server.start();
    await once(redis, 'ready');
    await redis.sadd(keys.owned('me'), 'ep4'); // as if the old data had survived
    await redis.hset(keys.owner('ep4'), { instance: 'me', kind: 'endpoint' });
    await own.resync();
    assert.equal(await redis.hget(keys.owner('ep5'), 'instance'), 'me');
    assert.equal(await redis.hget(keys.owner('fl1'), 'instance'), 'me');
    assert.equal(await redis.exists(keys.owner('ep4')), 0, 'what ended meanwhile is dropped');
    assert.equal(await redis.get(keys.affinity('call-4')), 'me');
    assert.deepEqual((await redis.smembers(keys.owned('me'))).sort(), ['ep5', 'fl1']);

    // leaving removes every record of this instance
    await own.close();
    assert.equal(await redis.exists(keys.owner('ep5'), keys.owner('fl1'), keys.owned('me')), 0);
    assert.equal(await redis.get(keys.affinity('call-4')), null);
  },
);
