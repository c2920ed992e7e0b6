import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../src/control/EventBus.ts';
import { ENGINE_SAMPLES, ServerMetrics, type MetricsSnapshot } from '../../src/control/metrics.ts';
import { namingProblems, parseExposition, sampleValue } from '../helpers/promText.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

const EMPTY: MetricsSnapshot = {
  endpoints: 0,
  bridges: 0,
  portsAvailable: 0,
  portsTotal: 0,
  counters: { endpointsCreated: 0, bridgesCreated: 0, workerRestarts: 0, mediaTimeouts: 0 },
  workers: [],
  eventSeq: 0,
};

test('every engine figure a real worker reports has a place in ENGINE_SAMPLES (none falls off /metrics)', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [w] = await server.workerMetrics();
  const engines = Object.entries(w!.engines ?? {});
  assert.ok(engines.length >= 4);
  for (const [engine, values] of engines) {
    for (const key of Object.keys(values))
      assert.notEqual(ENGINE_SAMPLES[engine]?.[key], undefined, `${engine}.${key} is mapped (or left out with null)`);
  }
});

test('ServerMetrics counts flow sessions by flow and outcome from the bus, and the running ones', async (t) => {
  const bus = new EventBus();
  const metrics = new ServerMetrics(async () => EMPTY, bus);
  t.after(() => metrics.close());
  for (let i = 0; i < 3; i++) bus.emit('flow.started', { session_id: `s${i}`, flow: 'menu' });
  bus.emit('flow.started', { session_id: 's3', flow: 'survey' });
  bus.emit('flow.step', { session_id: 's0', flow: 'menu', step: 'a' });
  bus.emit('flow.completed', { session_id: 's0', flow: 'menu', outcome: { action: 'transfer', target: 'sip:x' } });
  bus.emit('flow.completed', { session_id: 's1', flow: 'menu', outcome: { action: 'transfer', target: 'sip:y' } });
  bus.emit('flow.failed', { session_id: 's3', flow: 'survey', error: { code: 'X' } });
  const families = parseExposition((await metrics.render()).body);
  assert.deepEqual(namingProblems(families), []);
  assert.equal(sampleValue(families, 'msc_flow_sessions_total', { flow: 'menu', outcome: 'transfer' }), 2);
  assert.equal(sampleValue(families, 'msc_flow_sessions_total', { flow: 'survey', outcome: 'failed' }), 1);
  assert.equal(sampleValue(families, 'msc_flow_sessions_active', { flow: 'menu' }), 1);
  assert.equal(sampleValue(families, 'msc_flow_sessions_active', { flow: 'survey' }), 0);
  metrics.close();
  bus.emit('flow.started', { session_id: 's4', flow: 'menu' });
  const after = parseExposition((await metrics.render()).body);
  assert.equal(sampleValue(after, 'msc_flow_sessions_active', { flow: 'menu' }), 1, 'closed: no longer listening');
});

test('msc_conference_mixes_total does not go down when a conference ends', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const conferences = server.conferences;
  const mixes = async () =>
    sampleValue(parseExposition((await server.metrics()).body), 'msc_conference_mixes_total', { worker: '0' }) ?? -1;
  await conferences.create({ id: 'metrics-room' });
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']), affinity: 'metrics-room' });
  await conferences.addParticipant('metrics-room', { endpointId: ep.id } as never);
  let during = 0;
  while ((during = await mixes()) < 5) await new Promise((r) => setTimeout(r, 20));
  await conferences.delete('metrics-room');
  assert.ok((await mixes()) >= during, "the ended room's mixes stay counted");
});
