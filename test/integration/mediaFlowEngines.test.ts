import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/**
 * The flows' bridge step over a real MediaServer: how the bridge ended, as the flow's
 * `bridge_result` sees it.
 */

let server: MediaServer;
let engines: MediaFlowEngines;

before(async () => {
  server = await startServer();
  engines = MediaFlowEngines.forServer(server);
});

after(async () => {
  await server.close();
});

async function endpoint(t: TestContext): Promise<string> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  return (await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) })).id;
}

async function bridged(
  t: TestContext,
): Promise<{ caller: string; agent: string; result: Promise<{ reason: string }> }> {
  const caller = await endpoint(t);
  const agent = await endpoint(t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const created = nextEvent(server, 'bridge.created', (e) => e.endpoint_a === caller);
  const result = engines.bridge(caller, agent, {}, ac.signal);
  await created;
  return { caller, agent, result };
}

test('MediaFlowEngines.bridge() resolves peer_hangup when the other leg is deleted', async (t) => {
  const { agent, result } = await bridged(t);
  await server.deleteEndpoint(agent);
  assert.deepEqual(await result, { reason: 'peer_hangup' });
});

test("MediaFlowEngines.bridge() resolves hangup when the caller's own leg is deleted", async (t) => {
  const { caller, result } = await bridged(t);
  await server.deleteEndpoint(caller);
  assert.deepEqual(await result, { reason: 'hangup' });
});

test('MediaFlowEngines.bridge() resolves ended when the bridge itself is deleted', async (t) => {
  const { caller, result } = await bridged(t);
  const bridgeId = server.listBridges().find((b) => b.endpoint_a === caller)?.id;
  assert.ok(bridgeId);
  await server.deleteBridge(bridgeId);
  assert.deepEqual(await result, { reason: 'ended' });
});

test("a flow session hears its own call's end without listening on the public bus", async (t) => {
  const caller = await endpoint(t);
  const other = await endpoint(t);
  const listeners = server.events.listenerCount;
  const causes: string[] = [];
  const offHangup = engines.onHangup(caller, (cause) => causes.push(cause));
  const ac = new AbortController();
  const result = engines.bridge(caller, other, {}, ac.signal);
  await nextEvent(server, 'bridge.created', (e) => e.endpoint_a === caller);
  // neither the hangup watch nor the bridge step subscribes to every event of the server
  assert.equal(server.events.listenerCount, listeners);
  await server.deleteEndpoint(other);
  assert.deepEqual(await result, { reason: 'peer_hangup' });
  assert.deepEqual(causes, [], "the other leg's end is not this session's hangup");
  await server.deleteEndpoint(caller);
  assert.deepEqual(causes, ['deleted']);
  offHangup();
});

test('MediaFlowEngines.bridge() resolves hangup when the server shuts down with the bridge standing', async (t) => {
  const own = await startServer();
  t.after(() => own.close());
  const ownEngines = MediaFlowEngines.forServer(own);
  const peers = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    for (const p of peers) p.close();
  });
  const [a, b] = await Promise.all(
    peers.map(async (p) => (await own.createEndpoint({ remote_sdp: p.offer(['pcmu']) })).id),
  );
  const result = ownEngines.bridge(a!, b!, {}, new AbortController().signal);
  await nextEvent(own, 'bridge.created');
  await own.close();
  assert.deepEqual(await result, { reason: 'hangup' });
});
