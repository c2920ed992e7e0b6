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

async function bridged(t: TestContext): Promise<{ caller: string; agent: string; result: Promise<{ reason: string }> }> {
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

test('MediaFlowEngines.bridge() resolves hangup when the caller\'s own leg is deleted', async (t) => {
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
