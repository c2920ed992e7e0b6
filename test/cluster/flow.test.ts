import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from '../helpers/cluster.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

test(
  'a call handed to a flow through instance 1 while it lives on instance 2: DTMF, a recording, a transfer outcome',
  needs('redis-server'),
  async (t) => {
    const cluster = await TestCluster.start({ instances: 2 });
    t.after(() => cluster.close());
    const a = cluster.at(0);
    const caller = await RtpPeer.open();
    t.after(() => caller.close());

    // a is busier, so the call asked of a is placed on b
    const ballast = await a.request('POST', '/endpoints', {}, { 'x-msc-forwarded-by': 'test' });
    const leg = await a.request('POST', '/endpoints', { affinity: 'call-flow', remote_sdp: caller.offer(['pcmu']) });
    assert.equal(leg.status, 201);
    const id: string = leg.body.id;
    assert.equal(await cluster.ownerOf(id), 'i2');

    const rec = await a.request('POST', '/recordings', { endpoint_id: id, format: 'wav' });
    assert.equal(rec.status, 201, JSON.stringify(rec.body));
    const flow = await a.request('POST', `/endpoints/${id}/flow`, { flow: 'main-menu' });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
    const session: string = flow.body.session_id;
    assert.equal(await cluster.ownerOf(session), 'i2');

    // the welcome prompt reaches the caller from b; the caller talks and presses 1 (barge-in)
    await caller.waitFor(10, 10_000);
    assert.ok(caller.received.every((p) => p.from.port === leg.body.rtp_port));
    const voice = Buffer.alloc(160, 0x7f);
    for (let i = 0; i < 25; i++) {
      caller.send(leg.body.rtp_port, voice, 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await caller.sendDtmf(leg.body.rtp_port, '1');
    await cluster.waitFor(
      async () => (await a.request('GET', `/flow-sessions/${session}`)).body.status !== 'running',
      'the flow ended',
    );
    const ended = await a.request('GET', `/flow-sessions/${session}`);
    assert.equal(ended.status, 200);
    assert.equal(ended.body.status, 'completed', JSON.stringify(ended.body));
    assert.deepEqual(ended.body.outcome, { action: 'transfer', target: 'sip:sales@pbx.example.com' });
    assert.ok(ended.body.history.some((h: { step: string }) => h.step === 'sales'));

    // DTMF towards the caller, asked of a: RFC 4733 events arrive from b
    const before = caller.received.length;
    const sent = await a.request('POST', `/endpoints/${id}/dtmf`, { digits: '9' });
    assert.equal(sent.status, 202);
    await cluster.waitFor(
      () => caller.received.slice(before).some((p) => p.pt === 101 && p.payload[0] === 9),
      'telephone-event for 9',
      5000,
    );

    // the recording, stopped and fetched through a
    const stopped = await a.request('DELETE', `/recordings/${rec.body.id}`);
    assert.equal(stopped.status, 200);
    assert.ok(stopped.body.duration_ms > 200, `recorded ${stopped.body.duration_ms} ms`);
    const media = await a.request('GET', `/recordings/${rec.body.id}/media`);
    assert.equal(media.status, 200);
    assert.equal((media.body as Buffer).subarray(0, 4).toString(), 'RIFF');

    assert.equal((await a.request('DELETE', `/endpoints/${id}`)).status, 204);
    assert.equal((await a.request('DELETE', `/endpoints/${ballast.body.id}`)).status, 204);
  },
);
