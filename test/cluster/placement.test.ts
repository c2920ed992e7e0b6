import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from '../helpers/cluster.ts';
import { needs } from '../helpers/peers.ts';

test('three instances: membership, placement, affinity, drain', needs('redis-server'), async (t) => {
  const cluster = await TestCluster.start({ instances: 3 });
  t.after(() => cluster.close());
  const [a, b, c] = [cluster.at(0), cluster.at(1), cluster.at(2)];

  await t.test('GET /cluster lists the live members as Redis sees them, and which one answered', async () => {
    const r = await b.request('GET', '/cluster');
    assert.equal(r.status, 200);
    assert.equal(r.body.self, 'i2');
    assert.equal(r.body.cluster, cluster.name);
    assert.deepEqual(
      r.body.members.map((m: { id: string }) => m.id),
      ['i1', 'i2', 'i3'],
    );
    for (const m of r.body.members) {
      assert.equal(m.state, 'ready');
      assert.equal(m.endpoints, 0);
      assert.match(m.api_url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(m.grpc_url, /^127\.0\.0\.1:\d+$/);
      assert.ok(m.free_ports >= 100);
    }
    const ready = await a.request('GET', '/ready');
    assert.deepEqual(ready.body, { status: 'ok', cluster: 'ok' });
  });

  const created: string[] = [];
  await t.test('placement spreads calls over the three instances (all sent to one of them)', async () => {
    const owners = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const r = await a.request('POST', '/endpoints', {});
      assert.equal(r.status, 201, JSON.stringify(r.body));
      created.push(r.body.id);
      // the record exists before the 201 reached us
      const owner = await cluster.ownerOf(r.body.id);
      assert.ok(owner !== null, 'owner record written before the reply');
      owners.set(owner, (owners.get(owner) ?? 0) + 1);
    }
    assert.deepEqual([...owners.entries()].sort(), [
      ['i1', 2],
      ['i2', 2],
      ['i3', 2],
    ]);
    // each endpoint answers through every instance, owner or not
    for (const id of created) {
      for (const via of [a, b, c]) {
        const r = await via.request('GET', `/endpoints/${id}`);
        assert.equal(r.status, 200);
        assert.equal(r.body.id, id);
      }
    }
    const unknown = await b.request('GET', '/endpoints/no-such-endpoint');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'ENDPOINT_NOT_FOUND');
  });

  await t.test('legs with one affinity key share an instance, whichever instance is asked', async () => {
    const legs = [];
    for (const via of [a, b, c, b]) {
      const r = await via.request('POST', '/endpoints', { affinity: 'call-42' });
      assert.equal(r.status, 201);
      legs.push(r.body.id);
    }
    const owners = new Set(await Promise.all(legs.map((id) => cluster.ownerOf(id))));
    assert.equal(owners.size, 1, `legs on ${[...owners].join(', ')}`);
    const holder = [...owners][0]!;
    assert.equal(await cluster.redisCommand(['GET', `msc:${cluster.name}:affinity:call-42`]), holder);
    // the key goes with the last leg
    for (const [i, id] of legs.entries()) {
      const r = await cluster.at(i % 3).request('DELETE', `/endpoints/${id}`);
      assert.equal(r.status, 204);
    }
    await cluster.waitFor(
      async () => (await cluster.redisCommand(['GET', `msc:${cluster.name}:affinity:call-42`])) === null,
      'affinity key released',
    );
    for (const id of legs) assert.equal(await cluster.ownerOf(id), null);
  });

  await t.test('a draining instance gets no new calls and leaves once its last call ends', async () => {
    const onC = [];
    for (const id of created) if ((await cluster.ownerOf(id)) === 'i3') onC.push(id);
    assert.equal(onC.length, 2);
    const drain = await c.request('POST', '/admin/drain');
    assert.equal(drain.status, 202);
    await cluster.waitFor(async () => {
      const r = await a.request('GET', '/cluster');
      return r.body.members.find((m: { id: string }) => m.id === 'i3')?.state === 'draining';
    }, 'i3 published draining');
    for (let i = 0; i < 6; i++) {
      const r = await c.request('POST', '/endpoints', {});
      assert.equal(r.status, 201);
      assert.notEqual(await cluster.ownerOf(r.body.id), 'i3');
    }
    // its calls still answer, through another instance too
    assert.equal((await a.request('GET', `/endpoints/${onC[0]}`)).status, 200);
    for (const id of onC) assert.equal((await b.request('DELETE', `/endpoints/${id}`)).status, 204);
    await cluster.waitFor(async () => !(await cluster.members(a)).includes('i3'), 'i3 left the cluster');
    assert.equal(await c.proc.exited, 0);
  });

  await t.test('kill -9: the member expires within its TTL, and its affinity keys go to a live instance', async () => {
    const leg = await a.request('POST', '/endpoints', { affinity: 'call-k' }, { 'x-msc-forwarded-by': 'test' });
    assert.equal(leg.status, 201);
    // a key i2 holds (as if it had placed a call), then i2 dies
    await cluster.redisCommand(['SET', `msc:${cluster.name}:affinity:call-k2`, 'i2']);
    const onDead: string[] = [];
    for (const id of created) if ((await cluster.ownerOf(id)) === 'i2') onDead.push(id);
    assert.equal(onDead.length, 2);
    await b.kill();
    const killedAt = Date.now();
    await cluster.waitFor(async () => !(await cluster.members(a)).includes('i2'), 'i2 expired', 8000);
    // the record expires after CLUSTER_MEMBER_TTL_MS (1000 ms); the rest is polling on a loaded machine
    assert.ok(Date.now() - killedAt < 4000, `gone after ${Date.now() - killedAt} ms (TTL 1000 ms)`);
    const next = await a.request('POST', '/endpoints', { affinity: 'call-k2' });
    assert.equal(next.status, 201);
    assert.equal(await cluster.ownerOf(next.body.id), 'i1');
    assert.equal(await cluster.redisCommand(['GET', `msc:${cluster.name}:affinity:call-k2`]), 'i1');
    // a request for something the dead instance owned is answered here: not found (whether or
    // not the leader's failover has removed its records yet)
    const gone = await a.request('GET', `/endpoints/${onDead[0]}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'ENDPOINT_NOT_FOUND');
  });
});
