import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { GrpcTestClient } from '../api/grpc/grpcClient.ts';
import { TestCluster, type ClusterInstance } from '../helpers/cluster.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

/** Creates an endpoint on `on` itself: the forwarded marker skips placement, as for a forwarded create. */
async function createOn(on: ClusterInstance, body: Record<string, unknown> = {}): Promise<string> {
  const r = await on.request('POST', '/endpoints', body, { 'x-msc-forwarded-by': 'test' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

test('every route works through an instance that does not own the resource', needs('redis-server'), async (t) => {
  const cluster = await TestCluster.start({ instances: 2 });
  t.after(() => cluster.close());
  const [a, b] = [cluster.at(0), cluster.at(1)];
  let recordingOnB = '';
  let recordingBytes = 0;

  await t.test('RTP flows on a call placed through a non-owner', async (t) => {
    const ballast = await createOn(a); // a is busier: the call goes to b
    const p1 = await RtpPeer.open();
    const p2 = await RtpPeer.open();
    t.after(() => {
      p1.close();
      p2.close();
    });
    const leg1 = await a.request('POST', '/endpoints', { affinity: 'rtp-call', remote_sdp: p1.offer(['pcmu']) });
    const leg2 = await a.request('POST', '/endpoints', { affinity: 'rtp-call', remote_sdp: p2.offer(['pcmu']) });
    assert.equal(leg1.status, 201);
    assert.equal(leg2.status, 201);
    assert.equal(await cluster.ownerOf(leg1.body.id), 'i2');
    assert.equal(await cluster.ownerOf(leg2.body.id), 'i2');
    const bridge = await a.request('POST', '/bridges', { endpoint_a: leg1.body.id, endpoint_b: leg2.body.id });
    assert.equal(bridge.status, 201, JSON.stringify(bridge.body));
    assert.equal(await cluster.ownerOf(bridge.body.id), 'i2');
    const payload = Buffer.alloc(160, 0x55);
    for (let i = 0; i < 25; i++) {
      p1.send(leg1.body.rtp_port, payload, 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await p2.waitFor(20);
    assert.ok(p2.received.every((p) => p.payload.equals(payload)));
    for (const id of [leg1.body.id, leg2.body.id, ballast])
      assert.equal((await a.request('DELETE', `/endpoints/${id}`)).status, 204);
  });

  await t.test('REST: endpoints, bridges, playback, recordings, DTMF, conferences, flows', async () => {
    const [p, q, r] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
    try {
      const e1 = await createOn(b, { remote_sdp: p.offer(['pcmu']) });
      const e2 = await createOn(b, { remote_sdp: q.offer(['pcmu']) });
      const e3 = await createOn(a, { remote_sdp: r.offer(['pcmu']) });

      const got = await a.request('GET', `/endpoints/${e1}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.state, 'active');
      const patched = await a.request('PATCH', `/endpoints/${e2}`, { direction: 'recvonly' });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.direction, 'recvonly');

      const cross = await a.request('POST', '/bridges', { endpoint_a: e1, endpoint_b: e3 });
      assert.equal(cross.status, 409);
      assert.equal(cross.body.error.code, 'CROSS_INSTANCE');
      assert.match(cross.body.error.message, /affinity/);

      const bridge = await a.request('POST', '/bridges', { endpoint_a: e1, endpoint_b: e2 });
      assert.equal(bridge.status, 201);
      assert.equal((await a.request('GET', `/bridges/${bridge.body.id}`)).status, 200);

      const rec = await a.request('POST', '/recordings', { bridge_id: bridge.body.id, format: 'wav' });
      assert.equal(rec.status, 201, JSON.stringify(rec.body));
      assert.equal(await cluster.ownerOf(rec.body.id), 'i2');
      assert.equal((await a.request('GET', `/recordings/${rec.body.id}`)).body.state, 'recording');
      assert.equal((await a.request('DELETE', `/bridges/${bridge.body.id}`)).status, 204);

      const play = await a.request('POST', '/playback', { endpoint_id: e1, media: ['silence:5000'] });
      assert.equal(play.status, 201, JSON.stringify(play.body));
      assert.equal(await cluster.ownerOf(play.body.id), 'i2');
      assert.equal((await a.request('GET', `/playback/${play.body.id}`)).status, 200);
      assert.equal((await a.request('POST', `/playback/${play.body.id}/pause`)).body.state, 'paused');
      assert.equal((await a.request('DELETE', `/playback/${play.body.id}`)).status, 200);

      const dtmf = await a.request('POST', `/endpoints/${e1}/dtmf`, { digits: '12' });
      assert.equal(dtmf.status, 202, JSON.stringify(dtmf.body));
      assert.equal(dtmf.body.endpoint_id, e1);

      const stopped = await a.request('DELETE', `/recordings/${rec.body.id}`);
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
      const media = await a.request('GET', `/recordings/${rec.body.id}/media`);
      assert.equal(media.status, 200);
      assert.equal(media.headers.get('content-type'), 'audio/wav');
      assert.equal((media.body as Buffer).subarray(0, 4).toString(), 'RIFF');
      recordingOnB = rec.body.id;
      recordingBytes = (media.body as Buffer).length;

      // a conference named by the client: created on b, its members and playback reached through a
      const conf = await b.request('POST', '/conferences', { id: 'room-1' }, { 'x-msc-forwarded-by': 'test' });
      assert.equal(conf.status, 201);
      const again = await a.request('POST', '/conferences', { id: 'room-1' });
      assert.equal(again.status, 409, 'the owner answers that it exists');
      // an endpoint with the conference's id as affinity key lands next to it, whoever is asked
      const member = await a.request('POST', '/endpoints', { affinity: 'room-1', remote_sdp: r.offer(['pcmu']) });
      assert.equal(await cluster.ownerOf(member.body.id), 'i2');
      const joined = await a.request('POST', '/conferences/room-1/participants', { endpoint_id: member.body.id });
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
      assert.equal((await a.request('GET', '/conferences/room-1')).body.participants.length, 1);
      const left = await a.request('DELETE', `/conferences/room-1/participants/${member.body.id}`);
      assert.equal(left.status, 204);
      assert.equal((await a.request('DELETE', '/conferences/room-1')).status, 204);

      const flow = await a.request('POST', `/endpoints/${e1}/flow`, { flow: 'main-menu' });
      assert.equal(flow.status, 201, JSON.stringify(flow.body));
      assert.equal(await cluster.ownerOf(flow.body.session_id), 'i2');
      assert.equal((await a.request('GET', `/flow-sessions/${flow.body.session_id}`)).status, 200);
      const ended = await a.request('DELETE', `/flow-sessions/${flow.body.session_id}`);
      assert.ok(ended.status === 200 || ended.status === 204, String(ended.status));

      for (const id of [e1, e2, member.body.id])
        assert.equal((await a.request('DELETE', `/endpoints/${id}`)).status, 204);
      assert.equal((await a.request('GET', `/endpoints/${e1}`)).status, 404);
      assert.equal((await a.request('DELETE', `/endpoints/${e3}`)).status, 204);
      // the token is passed on, and checked by the first instance already
      const denied = await a.request('GET', `/endpoints/${e2}`, undefined, { authorization: 'Bearer wrong' });
      assert.equal(denied.status, 401);
    } finally {
      for (const peer of [p, q, r]) peer.close();
    }
  });

  await t.test('gRPC: the same calls through a non-owner', async (t) => {
    const ga = new GrpcTestClient(a.grpcPort, cluster.token);
    const [p, q] = [await RtpPeer.open(), await RtpPeer.open()];
    t.after(() => {
      ga.close();
      p.close();
      q.close();
    });
    const view = await ga.call<{ self: string; members: Array<{ id: string; state: string }> }>('GetCluster');
    assert.equal(view.self, 'i1');
    assert.deepEqual(
      view.members.map((m) => `${m.id}:${m.state}`),
      ['i1:ready', 'i2:ready'],
    );
    const e1 = await createOn(b, { remote_sdp: p.offer(['pcmu']) });
    const e2 = await createOn(b, { remote_sdp: q.offer(['pcmu']) });
    const got = await ga.call<{ id: string }>('GetEndpoint', { id: e1 });
    assert.equal(got.id, e1);
    const upd = await ga.call<{ direction: string }>('UpdateEndpoint', { id: e1, direction: 'sendonly' });
    assert.equal(upd.direction, 'sendonly');
    const bridge = await ga.call<{ id: string }>('CreateBridge', { endpoint_a: e1, endpoint_b: e2 });
    assert.equal(await cluster.ownerOf(bridge.id), 'i2');
    await ga.call('DeleteBridge', { id: bridge.id });
    const play = await ga.call<{ id: string }>('StartPlayback', { endpoint_id: e1, media: ['silence:3000'] });
    assert.equal(await cluster.ownerOf(play.id), 'i2');
    await ga.call('StopPlayback', { id: play.id });
    const rec = await ga.call<{ id: string }>('StartRecording', { endpoint_id: e2, format: 'wav' });
    assert.equal((await ga.call<{ id: string }>('GetRecording', { id: rec.id })).id, rec.id);
    await ga.call('StopRecording', { id: rec.id });
    const dtmf = await ga.call<{ id: string }>('SendDtmf', { endpoint_id: e1, digits: '5' });
    assert.equal(typeof dtmf.id, 'string');
    const conf = await b.request('POST', '/conferences', { id: 'room-g' }, { 'x-msc-forwarded-by': 'test' });
    assert.equal(conf.status, 201);
    assert.equal((await ga.call<{ id: string }>('GetConference', { id: 'room-g' })).id, 'room-g');
    const joined = await ga.call<{ endpoint_id: string }>('AddParticipant', { id: 'room-g', endpoint_id: e1 });
    assert.equal(joined.endpoint_id, e1);
    await ga.call('RemoveParticipant', { id: 'room-g', endpoint_id: e1 });
    await ga.call('DeleteConference', { id: 'room-g' });
    const flow = await ga.call<{ session_id: string }>('StartFlow', { endpoint_id: e2, flow: 'main-menu' });
    assert.equal(await cluster.ownerOf(flow.session_id), 'i2');
    // placement over gRPC: b is busier, the new endpoint lands on a
    const placed = await ga.call<{ id: string }>('CreateEndpoint', {
      affinity: 'g-call',
      remote_sdp: p.offer(['pcmu']),
    });
    assert.equal(await cluster.ownerOf(placed.id), 'i1');
    const cross = await ga
      .call('CreateBridge', { endpoint_a: e1, endpoint_b: placed.id })
      .catch((e: ServiceError) => e);
    assert.equal((cross as ServiceError).details.split(':')[0], 'CROSS_INSTANCE');
    for (const id of [e1, e2, placed.id]) await ga.call('DeleteEndpoint', { id });
    const gone = await ga.call('GetEndpoint', { id: e1 }).catch((e: ServiceError) => e);
    assert.equal((gone as ServiceError).details.split(':')[0], 'ENDPOINT_NOT_FOUND');
  });

  await t.test('a finalised recording is served from the shared directory once its owner left', async () => {
    assert.notEqual(recordingOnB, '');
    assert.equal(await cluster.ownerOf(recordingOnB), 'i2');
    assert.equal(await b.stop(), 0);
    assert.equal(await cluster.ownerOf(recordingOnB), null, 'records removed on leaving');
    const media = await a.request('GET', `/recordings/${recordingOnB}/media`);
    assert.equal(media.status, 200);
    assert.equal(media.headers.get('content-type'), 'audio/wav');
    assert.equal((media.body as Buffer).length, recordingBytes);
    const unknown = await a.request('GET', '/recordings/rec-none/media');
    assert.equal(unknown.status, 404);
  });
});
