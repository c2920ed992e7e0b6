import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from '../helpers/cluster.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

test(
  'a Redis outage: calls go on, placements answer 503, all re-registered on return',
  needs('redis-server'),
  async (t) => {
    const cluster = await TestCluster.start({ instances: 2 });
    t.after(() => cluster.close());
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const p1 = await RtpPeer.open();
    const p2 = await RtpPeer.open();
    t.after(() => {
      p1.close();
      p2.close();
    });
    // a call on a (asked to a itself: ties go to the instance asked), and one on b
    const leg1 = await a.request('POST', '/endpoints', { affinity: 'call-a', remote_sdp: p1.offer(['pcmu']) });
    const leg2 = await a.request('POST', '/endpoints', { affinity: 'call-a', remote_sdp: p2.offer(['pcmu']) });
    assert.equal(await cluster.ownerOf(leg1.body.id), 'i1');
    assert.equal(await cluster.ownerOf(leg2.body.id), 'i1');
    const onB = await a.request('POST', '/endpoints', {});
    assert.equal(await cluster.ownerOf(onB.body.id), 'i2');

    await cluster.redis.stop();
    await cluster.waitFor(async () => (await a.request('GET', '/ready')).body.cluster === 'unavailable', 'a saw it');

    // what a owns keeps working, without Redis
    const ready = await a.request('GET', '/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ok', cluster: 'unavailable' });
    assert.equal((await a.request('GET', `/endpoints/${leg1.body.id}`)).status, 200);
    const bridge = await a.request('POST', '/bridges', { endpoint_a: leg1.body.id, endpoint_b: leg2.body.id });
    assert.equal(bridge.status, 201, JSON.stringify(bridge.body));
    const payload = Buffer.alloc(160, 0x2a);
    for (let i = 0; i < 25; i++) {
      p1.send(leg1.body.rtp_port, payload, 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await p2.waitFor(20);
    const dtmf = await a.request('POST', `/endpoints/${leg2.body.id}/dtmf`, { digits: '1' });
    assert.equal(dtmf.status, 202);
    // what needs Redis is refused, clearly
    const placed = await a.request('POST', '/endpoints', {});
    assert.equal(placed.status, 503);
    assert.equal(placed.body.error.code, 'CLUSTER_UNAVAILABLE');
    const placedB = await b.request('POST', '/endpoints', { affinity: 'x' });
    assert.equal(placedB.body.error.code, 'CLUSTER_UNAVAILABLE');
    const view = await a.request('GET', '/cluster');
    assert.equal(view.status, 503);
    assert.equal(view.body.error.code, 'CLUSTER_UNAVAILABLE');
    // b still serves its own call
    assert.equal((await b.request('GET', `/endpoints/${onB.body.id}`)).status, 200);

    // Redis returns, empty: both register again with everything they own, the bridge made meanwhile too
    await cluster.redis.start();
    await cluster.waitFor(async () => (await cluster.members(a)).length === 2, 'both registered again');
    await cluster.waitFor(async () => (await cluster.ownerOf(bridge.body.id)) === 'i1', 'the outage bridge recorded');
    assert.equal(await cluster.ownerOf(leg1.body.id), 'i1');
    assert.equal(await cluster.ownerOf(onB.body.id), 'i2');
    assert.equal(await cluster.redisCommand(['GET', `msc:${cluster.name}:affinity:call-a`]), 'i1');
    assert.equal((await a.request('GET', `/endpoints/${onB.body.id}`)).status, 200, 'forwarded again');
    const after = await b.request('POST', '/endpoints', { affinity: 'call-a' });
    assert.equal(after.status, 201);
    assert.equal(await cluster.ownerOf(after.body.id), 'i1', 'the call keeps its instance');
    assert.equal(a.exited || b.exited, false, 'no crash');
  },
);
