import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/control/types.ts';
import { TestCluster } from '../helpers/cluster.ts';
import { WsEvents } from '../helpers/eventsCluster.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

/** Records until #, then a menu whose 1 transfers: DTMF, a recording and a transfer outcome. */
const FLOW = `name: cluster-e2e
start: record_message
steps:
  record_message:
    type: record
    path: "e2e/{{ session_id }}.wav"
    format: wav
    max_duration_ms: 10000
    terminator: "#"
    beep: false
    variable: message
    next: ask
  ask:
    type: menu
    prompt: tone:440:100
    options: { "1": agent }
  agent: { type: transfer, target: "sip:agent@pbx.example.com" }
`;

test(
  'a call handed to a flow through instance 1 while it lives on instance 2: DTMF, a recording and a transfer outcome, seen from instance 3',
  needs('redis-server'),
  async (t) => {
    const flows = fs.mkdtempSync(path.join(os.tmpdir(), 'msc-cluster-flows-'));
    t.after(() => fs.rmSync(flows, { recursive: true, force: true }));
    fs.writeFileSync(path.join(flows, 'cluster-e2e.yaml'), FLOW);
    const cluster = await TestCluster.start({ instances: 3, env: { FLOWS_DIR: flows } });
    t.after(() => cluster.close());
    const [i1, i2, i3] = [cluster.at(0), cluster.at(1), cluster.at(2)];
    const peer = await RtpPeer.open();
    t.after(() => peer.close());

    // the call lives on instance 2 (created there, as a forwarded create would be)
    const created = await i2.request(
      'POST',
      '/endpoints',
      { affinity: 'e2e-call', remote_sdp: peer.offer(['pcmu']) },
      { 'x-msc-forwarded-by': 'test' },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const endpoint = created.body.id as string;
    const port = created.body.rtp_port as number;
    assert.equal(await cluster.ownerOf(endpoint), i2.id);
    // the B2BUA follows the call on instance 3
    const reader = await WsEvents.open(i3.url, `?token=${cluster.token}&types=flow.,recording.,endpoint.dtmf`);
    t.after(() => reader.close());

    // handed to the flow through instance 1
    const started = await i1.request('POST', `/endpoints/${endpoint}/flow`, { flow: 'cluster-e2e' });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const session = started.body.session_id as string;
    await reader.until((ev) => ev.some((e) => e.type === 'recording.started'), 10_000, 'recording.started');

    // the caller speaks for a second, presses # (ends the recording), then 1 (transfer)
    const payload = Buffer.alloc(160, 0x2a);
    for (let i = 0; i < 50; i++) {
      peer.send(port, payload, 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await peer.sendDtmf(port, '#');
    await reader.until((ev) => ev.some((e) => e.type === 'recording.finished'), 10_000, 'recording.finished');
    await new Promise((r) => setTimeout(r, 300));
    await peer.sendDtmf(port, '1');
    await reader.until((ev) => ev.some((e) => e.type === 'flow.completed'), 10_000, 'flow.completed');

    const events = reader.events;
    const byType = (type: string) => events.filter((e) => e.type === type);
    const completed = byType('flow.completed')[0] as ServerEvent;
    assert.equal(completed.session_id, session);
    assert.deepEqual(completed.outcome, { action: 'transfer', target: 'sip:agent@pbx.example.com' });
    assert.deepEqual(
      byType('endpoint.dtmf').map((e) => [e.digit, e.endpoint_id]),
      [
        ['#', endpoint],
        ['1', endpoint],
      ],
    );
    const finished = byType('recording.finished')[0] as ServerEvent;
    assert.equal(finished.endpoint_id, endpoint);
    assert.ok((finished.duration_ms as number) >= 800, `recorded ${finished.duration_ms} ms`);
    // all of it happened on instance 2, reported through the one stream, in order
    for (const e of events) assert.equal(e.instance, i2.id, JSON.stringify(e));
    for (let i = 1; i < events.length; i++)
      assert.ok((events[i] as ServerEvent).seq > (events[i - 1] as ServerEvent).seq);
    assert.deepEqual(
      events
        .filter((e) => ['flow.started', 'recording.finished', 'flow.completed'].includes(e.type))
        .map((e) => e.type),
      ['flow.started', 'recording.finished', 'flow.completed'],
    );
    // the ended session and the finalised recording answer through instances 1 and 3 (forwarded to the owner)
    const status = await i1.request('GET', `/flow-sessions/${session}`);
    assert.equal(status.status, 200);
    assert.equal(status.body.status, 'completed');
    const media = await i3.request('GET', `/recordings/${finished.recording_id}/media`);
    assert.equal(media.status, 200);
    const wav = media.body as Buffer;
    assert.equal(wav.subarray(0, 4).toString(), 'RIFF');
    assert.ok(wav.length > 8000, `${wav.length} bytes`);
  },
);
