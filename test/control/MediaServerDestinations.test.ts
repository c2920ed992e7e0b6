import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../src/common/errors.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

function invalidSdp(problem: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_SDP');
    assert.match(err.message, problem);
    return true;
  };
}

function offerTo(ip: string, port: number, extra: string[] = []): string {
  return [
    'v=0',
    'o=peer 1 1 IN IP4 127.0.0.1',
    's=-',
    `c=IN IP4 ${ip}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    ...extra,
    '',
  ].join('\r\n');
}

test('MediaServer refuses an SDP whose media destination is its own API, gRPC or RTP port', async (t) => {
  const server = await startServer({ API_PORT: '18080', GRPC_PORT: '18081' });
  t.after(() => server.close());
  await assert.rejects(
    server.createEndpoint({ remote_sdp: offerTo('127.0.0.1', 18080) }),
    invalidSdp(/RTP destination 127\.0\.0\.1:18080 is this media server's own listening port/),
  );
  await assert.rejects(
    server.createEndpoint({ remote_sdp: offerTo('127.0.0.1', 30000, ['a=rtcp:18081']) }),
    invalidSdp(/RTCP destination 127\.0\.0\.1:18081/),
  );
  server.addListeningPort(18090); // bound after the configuration was read (API_PORT=0)
  await assert.rejects(server.createEndpoint({ remote_sdp: offerTo('127.0.0.2', 18090) }), invalidSdp(/18090/));
  // Another of our legs: the two would relay each other's packets in a loop.
  const a = await server.createEndpoint({});
  await assert.rejects(
    server.createEndpoint({ remote_sdp: offerTo('127.0.0.1', a.rtp_port) }),
    invalidSdp(/own listening port/),
  );
  await assert.rejects(
    server.updateEndpoint(a.id, { remote_sdp: offerTo('127.0.0.1', a.rtp_port) }),
    invalidSdp(/own listening port/),
  );
  assert.equal((await server.listEndpoints()).length, 1, 'the refused endpoints are not kept');
  // The same port on another host is someone else's.
  const far = await server.createEndpoint({ remote_sdp: offerTo('192.0.2.7', 18080) });
  assert.equal(far.remote?.rtp_port, 18080);
});

test('MediaServer treats c=0.0.0.0 as a hold: nothing is sent, nobody latches, and a real address resumes the media', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb, foreign] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
    foreign.close();
  });
  const held = pa.offer().replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0');
  const a = await server.createEndpoint({ remote_sdp: held });
  assert.equal(a.direction, 'recvonly', 'we must not send to a peer on hold');
  assert.match(a.sdp, /a=recvonly/);
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });

  // Someone sends to A during the hold: it must not become A's destination.
  for (let i = 0; i < 2; i++) foreign.send(a.rtp_port, Buffer.alloc(160, 0x55));
  for (let i = 0; i < 5; i++) pb.send(b.rtp_port, Buffer.alloc(160, i));
  const deadline = Date.now() + 3000;
  while ((await server.getEndpoint(b.id)).stats.packets_received < 5 && Date.now() < deadline)
    await new Promise((r) => setImmediate(r));
  const onHold = await server.getEndpoint(a.id);
  assert.equal(onHold.stats.packets_sent, 0, 'nothing sent while on hold');
  assert.equal(onHold.remote, null);
  assert.equal(pa.received.length + foreign.received.length, 0);

  // Off hold with a real address (re-INVITE): B's media reaches A's peer again.
  const resumed = await server.updateEndpoint(a.id, { remote_sdp: pa.offer() });
  assert.equal(resumed.direction, 'sendrecv');
  pb.send(b.rtp_port, Buffer.alloc(160, 9));
  await pa.waitFor(1);
  assert.equal(foreign.received.length, 0);
});
