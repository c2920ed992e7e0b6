import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ClusterKeys } from '../../src/cluster/ClusterKeys.ts';
import { connectRedis } from '../../src/cluster/connectRedis.ts';
import { LeaderElection } from '../../src/cluster/LeaderElection.ts';
import { LeaderWebhookGate } from '../../src/cluster/LeaderWebhookGate.ts';
import { EventBus } from '../../src/control/EventBus.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  'LeaderWebhookGate: only the leader passes events on; a new leader resumes after the stored position',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const keys = new ClusterKeys('wh');
    // the same stream seen by two instances (an EventBus stands for the cluster feed)
    const feed = new EventBus();
    const make = async (id: string) => {
      const redis = connectRedis({ redisUrl: server.url }, id);
      t.after(() => redis.disconnect());
      await once(redis, 'ready');
      const election = new LeaderElection({ redis, keys, instanceId: id, ttlMs: 600, intervalMs: 100 });
      const gate = new LeaderWebhookGate({ feed, redis, keys, election });
      const got: ServerEvent[] = [];
      gate.subscribe((e) => got.push(e));
      t.after(async () => {
        gate.close();
        await election.close();
      });
      return { redis, election, gate, got };
    };
    const a = await make('a');
    const b = await make('b');
    await a.election.tick();
    await b.election.tick();
    await until(() => a.gate.active, 'a delivering');
    a.election.start();
    b.election.start();
    for (let i = 1; i <= 5; i++) feed.emit('test.event', { n: i });
    assert.deepEqual(
      a.got.map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    assert.equal(b.got.length, 0);
    // the receiver accepted 1..3 when a went silent
    a.gate.delivered(a.got.slice(0, 3));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await b.redis.get(keys.webhookPosition), '3');
    a.redis.disconnect();
    await until(() => b.gate.active, 'b delivering', 3000);
    feed.emit('test.event', { n: 6 });
    // b resumes after 3: 4 and 5 again (a may have posted them, unacknowledged), then live 6
    assert.deepEqual(
      b.got.map((e) => e.seq),
      [4, 5, 6],
    );
    assert.equal(a.gate.active, false);
    assert.deepEqual(
      a.got.map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    // a late acknowledgement of an older batch never moves the position back
    b.gate.delivered(b.got);
    await new Promise((r) => setTimeout(r, 50));
    b.gate.delivered([{ seq: 2, type: 'test.event', time: '' }]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await b.redis.get(keys.webhookPosition), '6');
  },
);
