import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

test('MediaServer.deleteEndpoint() while createBridge() is in flight leaves no bridge on the other leg', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const a = await server.createEndpoint({});
  const b = await server.createEndpoint({});
  const c = await server.createEndpoint({});
  const bridging = server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  const deleting = server.deleteEndpoint(a.id);
  await Promise.allSettled([bridging, deleting]);
  assert.equal((await server.getEndpoint(b.id)).bridge_id, null, 'b is not left in a bridge with a deleted leg');
  assert.deepEqual(server.listBridges(), []);
  const again = await server.createBridge({ endpoint_a: b.id, endpoint_b: c.id });
  assert.equal(again.endpoint_a, b.id);
});

test('MediaServer.deleteEndpoint() during a cross-worker createBridge() frees the other leg on its worker too', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const [pa, pb, pc] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
    pc.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(), affinity: 'call-1' });
  let b = await server.createEndpoint({ remote_sdp: pb.offer(), affinity: 'call-1' });
  let k = 0;
  while (b.worker === a.worker && k < 50) {
    await server.deleteEndpoint(b.id);
    b = await server.createEndpoint({ remote_sdp: pb.offer(), affinity: `other-${k++}` });
  }
  assert.notEqual(b.worker, a.worker);
  const c = await server.createEndpoint({ remote_sdp: pc.offer(), affinity: 'call-1' });
  const bridging = server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  const deleting = server.deleteEndpoint(a.id);
  // Either outcome is fine (the bridge fails, or it existed and went with its deleted leg): b ends unbridged.
  await Promise.allSettled([bridging, deleting]);
  assert.equal((await server.getEndpoint(b.id)).bridge_id, null);
  assert.deepEqual(server.listBridges(), []);
  const again = await server.createBridge({ endpoint_a: b.id, endpoint_b: c.id });
  assert.equal(again.cross_worker, c.worker !== b.worker);
  // The new bridge carries media: b's worker half of the dead bridge is gone.
  pc.send(c.rtp_port, Buffer.alloc(160, 0x55), 0);
  await pb.waitFor(1);
});

test('MediaServer.createBridge() across workers during a re-INVITE sends the other leg the renegotiated codec', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']), affinity: 'call-1' });
  let b = await server.createEndpoint({ remote_sdp: pb.offer(['pcmu']), affinity: 'call-1' });
  let k = 0;
  while (b.worker === a.worker && k < 50) {
    await server.deleteEndpoint(b.id);
    b = await server.createEndpoint({ remote_sdp: pb.offer(['pcmu']), affinity: `other-${k++}` });
  }
  assert.notEqual(b.worker, a.worker);
  // The re-INVITE moving b to PCMA is in flight while the bridge is built.
  const updating = server.updateEndpoint(b.id, { remote_sdp: pb.offer(['pcma']) });
  const bridging = server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  const [updated] = await Promise.all([updating, bridging]);
  assert.equal(updated.codec?.name, 'pcma');
  for (let i = 0; i < 5; i++) pa.send(a.rtp_port, Buffer.alloc(160, 0xff), 0);
  await pb.waitFor(5);
  assert.deepEqual(
    pb.received.map((r) => r.pt),
    [8, 8, 8, 8, 8],
    "b's peer gets the PCMA it negotiated",
  );
  assert.equal(pb.received[0]!.payload[0], 0xd5, 'mu-law silence converted to A-law silence');
});
