import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/control/types.ts';
import { TestCluster, type ClusterInstance } from '../helpers/cluster.ts';
import { WsEvents } from '../helpers/eventsCluster.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

/** Creates an endpoint on `on` itself: the forwarded marker skips placement, as for a forwarded create. */
async function createOn(on: ClusterInstance, body: Record<string, unknown>): Promise<string> {
  const r = await on.request('POST', '/endpoints', body, { 'x-msc-forwarded-by': 'test' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

test(
  'kill -9 of the leader holding a call: reported within 10 s (endpoint.deleted instance_lost, flow.failed, instance.lost) and the call lands elsewhere',
  needs('redis-server'),
  async (t) => {
    // the product defaults: heartbeat 1 s, member TTL 5 s
    const cluster = await TestCluster.start({
      instances: 3,
      env: { CLUSTER_HEARTBEAT_MS: '1000', CLUSTER_MEMBER_TTL_MS: '5000' },
    });
    t.after(() => cluster.close());
    await cluster.waitFor(
      async () => (await cluster.redisCommand(['GET', `msc:${cluster.name}:leader`])) !== null,
      'a leader',
    );
    // the harder case: the instance that dies is the leader, so a new one must be elected first
    const victim = cluster.byId((await cluster.redisCommand(['GET', `msc:${cluster.name}:leader`])) as string);
    const survivors = cluster.instances.filter((i) => i !== victim) as [ClusterInstance, ClusterInstance];
    const [via, other] = survivors;

    const peers = [await RtpPeer.open(), await RtpPeer.open()];
    t.after(() => peers.forEach((p) => p.close()));
    const leg1 = await createOn(victim, { affinity: 'call-lost', remote_sdp: peers[0]!.offer(['pcmu']) });
    const leg2 = await createOn(victim, { affinity: 'call-lost', remote_sdp: peers[1]!.offer(['pcmu']) });
    // the call is handed to a flow through another instance (forwarded to the owner)
    const flow = await via.request('POST', `/endpoints/${leg1}/flow`, { flow: 'main-menu' });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
    const session = flow.body.session_id as string;
    await cluster.waitFor(
      async () => (await cluster.ownerOf(session)) === victim.id,
      'the flow session owned by the victim',
    );
    await cluster.waitFor(
      async () => (await cluster.redisCommand(['GET', `msc:${cluster.name}:affinity:call-lost`])) === victim.id,
      'the affinity held by the victim',
    );

    const reader = await WsEvents.open(
      other.url,
      `?token=${cluster.token}&types=endpoint.deleted,flow.failed,instance.lost`,
    );
    t.after(() => reader.close());
    const killedAt = performance.now();
    await victim.kill();
    await reader.until((ev) => ev.some((e) => e.type === 'instance.lost'), 15_000, 'instance.lost');
    const reportedMs = performance.now() - killedAt;
    t.diagnostic(`instance.lost ${Math.round(reportedMs)} ms after kill -9 (member TTL 5000 ms, heartbeat 1000 ms)`);
    assert.ok(reportedMs < 10_000, `reported after ${reportedMs} ms`);

    const events = reader.events;
    const lost = events.find((e) => e.type === 'instance.lost') as ServerEvent;
    assert.equal(lost.instance, victim.id);
    assert.deepEqual(lost.endpoints, [leg1, leg2].sort());
    assert.deepEqual(lost.flow_sessions, [session]);
    assert.deepEqual(lost.affinities, ['call-lost']);
    assert.ok(
      survivors.some((s) => s.id === lost.reported_by),
      `reported by ${lost.reported_by}`,
    );
    const before = events.filter((e) => e.seq < lost.seq);
    const deleted = before.filter((e) => e.type === 'endpoint.deleted' && e.reason === 'instance_lost');
    assert.deepEqual(deleted.map((e) => e.endpoint_id).sort(), [leg1, leg2].sort());
    for (const e of deleted) assert.equal(e.instance, victim.id);
    const failed = before.filter((e) => e.type === 'flow.failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.session_id, session);
    assert.equal(failed[0]!.flow, 'main-menu');
    assert.equal(failed[0]!.endpoint_id, leg1);
    assert.equal((failed[0]!.error as { code: string }).code, 'INSTANCE_LOST');

    // the B2BUA's next leg for that call lands on a live instance, and the dead one left the members
    const again = await via.request('POST', '/endpoints', {
      affinity: 'call-lost',
      remote_sdp: peers[0]!.offer(['pcmu']),
    });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    const owner = await cluster.ownerOf(again.body.id);
    assert.ok(owner !== null && owner !== victim.id && survivors.some((s) => s.id === owner), `placed on ${owner}`);
    assert.deepEqual((await cluster.members(via)).sort(), survivors.map((s) => s.id).sort());
    // reported once, though both survivors watched
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(reader.events.filter((e) => e.type === 'instance.lost').length, 1);
  },
);
