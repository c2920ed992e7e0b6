import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { EndpointInfo } from '../../src/control/types.ts';

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** A leg on the worker other than `other`'s (affinity keys hash to workers). */
async function legElsewhere(server: MediaServer, other: EndpointInfo, sdp: string): Promise<EndpointInfo> {
  for (let k = 0; k < 50; k++) {
    const ep = await server.createEndpoint({ remote_sdp: sdp, affinity: `elsewhere-${k}` });
    if (ep.worker !== other.worker) return ep;
    await server.deleteEndpoint(ep.id);
  }
  throw new Error('no affinity key maps to another worker');
}

function assertContinuous(got: ReceivedRtp[], what: string): void {
  assert.equal(new Set(got.map((r) => r.ssrc)).size, 1, `${what}: one SSRC`);
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, `${what}: sequence continues at ${i}`);
    assert.equal((got[i]!.ts - got[i - 1]!.ts) >>> 0, 160, `${what}: timestamp advances one frame at ${i}`);
  }
}

test("MediaServer puts a B2BUA's legs created without affinity on one worker, call after call", async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const workersUsed = new Set<number>();
  for (let call = 0; call < 4; call++) {
    const [caller, callee] = [await RtpPeer.open(), await RtpPeer.open()];
    t.after(() => {
      caller.close();
      callee.close();
    });
    // INVITE in: leg A answers the caller's offer; INVITE out: leg B offers; 200 OK: its answer.
    const a = await server.createEndpoint({ remote_sdp: caller.offer() });
    const b = await server.createEndpoint({});
    await server.updateEndpoint(b.id, { remote_sdp: callee.offer() });
    assert.equal(b.worker, a.worker, `call ${call}: both legs on one worker`);
    const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
    assert.equal(bridge.cross_worker, false);
    workersUsed.add(a.worker);
    for (let i = 0; i < 5; i++) caller.send(a.rtp_port, payload(160, i));
    await callee.waitFor(5);
    assert.deepEqual(
      callee.received.map((r) => r.payload),
      [0, 1, 2, 3, 4].map((i) => payload(160, i)),
    );
  }
  assert.equal(workersUsed.size, 2, 'calls still spread over the workers');
});

test('MediaServer relays across workers through the rings: order, payload, sequence and timestamps both ways', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(), affinity: 'call-x' });
  const b = await legElsewhere(server, a, pb.offer());
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.cross_worker, true);
  // Bursts of 20 per direction, each sent once the previous one arrived (a ring holds ~85
  // packets: a blast of hundreds at once would overflow it, dropped and counted by design).
  const n = 200;
  for (let i = 0; i < n; i++) {
    pa.send(a.rtp_port, payload(160, i));
    pb.send(b.rtp_port, payload(160, 1000 + i));
    if (i % 20 === 19) await Promise.all([pb.waitFor(i + 1), pa.waitFor(i + 1)]);
  }
  assert.deepEqual(
    pb.received.map((r) => r.payload),
    Array.from({ length: n }, (_, i) => payload(160, i)),
  );
  assert.deepEqual(
    pa.received.map((r) => r.payload),
    Array.from({ length: n }, (_, i) => payload(160, 1000 + i)),
  );
  assertContinuous(pb.received, 'a to b');
  assertContinuous(pa.received, 'b to a');
  assert.equal(pb.received[0]!.from.port, b.rtp_port, "sent from b's own port");
  for (const ep of [a, b]) assert.deepEqual((await server.getEndpoint(ep.id)).stats.dropped, {}, 'nothing dropped');
});

test('MediaServer maps telephone-event payload types across workers', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(), affinity: 'call-dtmf' });
  // b's peer numbers telephone-event 96.
  const b = await legElsewhere(server, a, pb.offer().replaceAll('101', '96'));
  assert.equal(b.telephone_event?.payload_type, 96);
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  for (let i = 0; i < 3; i++) pa.send(a.rtp_port, payload(160, i));
  await pa.sendDtmf(a.rtp_port, '7', 101, 60);
  await pb.waitFor(3 + 6);
  const events = pb.received.filter((r) => r.pt !== 0);
  assert.ok(events.length >= 6, 'every event packet crossed');
  assert.ok(
    events.every((r) => r.pt === 96),
    "mapped to b's payload type",
  );
  assert.ok(
    events.every((r) => r.payload[0] === 7),
    'digit 7 kept',
  );
  assert.equal(events.at(-1)!.payload[1]! & 0x80, 0x80, 'end bit kept');
});
