import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ClusterKeys } from '../../src/cluster/ClusterKeys.ts';
import { connectRedis } from '../../src/cluster/connectRedis.ts';
import { EventStreamWriter } from '../../src/cluster/EventStreamWriter.ts';
import { decodeEntry } from '../../src/cluster/streamEntry.ts';
import { EventBus } from '../../src/control/EventBus.ts';
import { needs } from '../helpers/peers.ts';
import { TestRedis } from '../helpers/redis.ts';

async function entries(redis: Redis, keys: ClusterKeys) {
  const raw = (await redis.xrange(keys.events, '-', '+')) as Array<[string, string[]]>;
  return raw.map(([id, fields]) => decodeEntry(id, fields)!);
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  'EventStreamWriter: an outage longer than the queue drops the oldest, counts them, appends the rest in order',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const keys = new ClusterKeys('w');
    const redis = connectRedis({ redisUrl: server.url }, 'w');
    t.after(() => redis.disconnect());
    await once(redis, 'ready');
    const registry = new Registry();
    const bus = new EventBus();
    const writer = new EventStreamWriter({
      redis,
      keys,
      instanceId: 'a',
      maxLen: 1000,
      maxQueue: 10,
      knownSeq: () => 0,
      registry,
    });
    t.after(() => writer.close());
    writer.attach(bus);
    for (let i = 1; i <= 3; i++) bus.emit('test.before', { n: i });
    await writer.idle();
    assert.deepEqual(
      (await entries(redis, keys)).map((e) => [e.seq, e.n, e.instance]),
      [
        [1, 1, 'a'],
        [2, 2, 'a'],
        [3, 3, 'a'],
      ],
    );

    await server.stop();
    for (let i = 1; i <= 15; i++) bus.emit('test.during', { n: i });
    assert.equal(writer.stats.queued, 10);
    assert.deepEqual(writer.stats.droppedBy, { queue_full: 5, rejected: 0 });
    assert.match(await registry.metrics(), /msc_cluster_events_dropped_total\{reason="queue_full"\} 5/);
    await server.start();
    // wait for the queue to drain through the reconnect
    await until(() => writer.stats.queued === 0, 'the queue appended');
    const after = await entries(redis, keys);
    // Redis came back empty (no persistence): the 10 newest, in order, numbered after what the
    // writer had seen (3) plus the margin, never reusing a seq
    assert.deepEqual(
      after.map((e) => e.n),
      [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    );
    assert.ok((after[0]!.seq as number) > 3);
    for (let i = 1; i < after.length; i++) assert.equal(after[i]!.seq, (after[i - 1]!.seq as number) + 1);
    assert.equal(writer.stats.appended, 13);
  },
);

test(
  'the append script writes a retried entry once (a reply lost to a broken connection)',
  needs('redis-server'),
  async (t) => {
    const server = await TestRedis.start();
    t.after(() => server.close());
    const keys = new ClusterKeys('d');
    const redis = connectRedis({ redisUrl: server.url }, 'd');
    t.after(() => redis.disconnect());
    await once(redis, 'ready');
    const writer = new EventStreamWriter({
      redis,
      keys,
      instanceId: 'a',
      maxLen: 1000,
      maxQueue: 10,
      knownSeq: () => 0,
    });
    t.after(() => writer.close());
    const append = (
      redis as unknown as { mscAppendEvent(...a: (string | number)[]): Promise<number> }
    ).mscAppendEvent.bind(redis);
    const args = (boot: string, n: number) =>
      [
        keys.events,
        keys.eventSeq,
        keys.eventsAppended('a'),
        'a',
        '{"type":"x.y","seq":1,"time":"t"}',
        boot,
        n,
        1000,
        0,
      ] as const;
    assert.equal(await append(...args('boot1', 1)), 1);
    assert.equal(await append(...args('boot1', 1)), 0, 'the retry is recognised');
    assert.equal(await append(...args('boot1', 2)), 2);
    // a new boot of the same instance id starts its numbering again
    assert.equal(await append(...args('boot2', 1)), 3);
    assert.equal(await redis.xlen(keys.events), 3);
  },
);
