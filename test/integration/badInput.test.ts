import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import fc from 'fast-check';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

/** Garbage on the wire: dropped and counted, never a crash, and real media keeps flowing. */
test('random datagrams to endpoint ports and to unallocated ports of the range never break the server', async (t) => {
  const server = await startServer({ RTP_PORT_START: '32100', RTP_PORT_END: '32199' });
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() });
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  // Both callers talk first, so both legs have latched and locked their source (before that, the
  // first valid packet from anywhere is taken as the NAT-corrected address, by design).
  pa.send(a.rtp_port, Buffer.alloc(160, 7));
  pb.send(b.rtp_port, Buffer.alloc(160, 8));
  await pb.waitFor(1);
  await pa.waitFor(1);

  const flood = dgram.createSocket('udp4');
  flood.bind(0, '127.0.0.1');
  await once(flood, 'listening');
  t.after(() => flood.close());
  const datagrams = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 300 }), { numRuns: 3000, seed: 42 });
  let sent = 0;
  for (const d of datagrams) {
    // endpoint RTP and RTCP ports, and ports of the range nobody allocated
    const port = [a.rtp_port, a.rtcp_port, b.rtp_port, 32150 + (sent % 40)][sent % 4]!;
    flood.send(d, port, '127.0.0.1');
    if (++sent % 200 === 0) await new Promise((r) => setImmediate(r));
  }
  // Let the worker drain the flood (the kernel may have dropped part of it: that is fine).
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const d = Object.values((await server.getEndpoint(a.id)).stats.dropped).reduce((x, n) => x + n, 0);
    if (d === last) break;
    last = d;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Genuine media from the locked source still flows.
  for (let i = 0; i < 10; i++) pa.send(a.rtp_port, Buffer.alloc(160, i));
  await pb.waitFor(11);
  const stats = (await server.getEndpoint(a.id)).stats;
  const dropped = Object.values(stats.dropped).reduce((s, n) => s + n, 0);
  assert.ok(dropped > 500, `dropped ${dropped} of the flood on A's ports: ${JSON.stringify(stats.dropped)}`);
  assert.equal(stats.packets_received, 11, 'only the genuine packets were accepted');
  assert.equal(server.isReady(), true);
  const metrics = await server.metrics();
  assert.match(metrics.body, /msc_rtp_packets_dropped_total\{worker="0",reason="malformed_/);
});
