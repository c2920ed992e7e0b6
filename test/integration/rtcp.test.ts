import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRtcp, type RtcpPacket } from '../../src/media/rtp/rtcp.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { buildCompoundRtcp } from '../../src/media/rtp/rtcpWriter.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

async function waitForRtcp(
  peer: RtpPeer,
  pred: (packets: RtcpPacket[]) => boolean,
  timeoutMs: number,
): Promise<RtcpPacket[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const raw of peer.rtcpReceived) {
      const parsed = parseRtcp(raw);
      if (parsed.error === 0 && pred(parsed.packets)) return parsed.packets;
    }
    if (Date.now() > until)
      throw new Error(`no matching RTCP within ${timeoutMs} ms (${peer.rtcpReceived.length} received)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an endpoint sends RFC 3550 reports (SR with a report block, SDES CNAME) about every 5 s, and BYE on delete', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() });
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  // 8 s of media both ways, so each leg both sends (SR) and receives (report block).
  const timer = setInterval(() => {
    pa.send(a.rtp_port, Buffer.alloc(160, 1));
    pb.send(b.rtp_port, Buffer.alloc(160, 2));
  }, 20);
  t.after(() => clearInterval(timer));
  const packets = await waitForRtcp(pb, (ps) => ps[0]?.kind === 'sr' && ps[0].reports.length > 0, 9000);
  const sr = packets[0]!;
  if (sr.kind !== 'sr') throw new Error('expected SR');
  assert.equal(sr.ssrc, pb.received[0]!.ssrc, 'the SR is about the stream we send to this peer');
  assert.equal(sr.reports[0]!.ssrc, pb.ssrc, "its report block is about the peer's stream");
  assert.ok(sr.packetCount > 0);
  const sdes = packets.find((p) => p.kind === 'sdes');
  assert.ok(sdes && sdes.kind === 'sdes' && /@media-server-core$/.test(sdes.chunks[0]!.items[0]!.value));
  clearInterval(timer);

  const count = pa.rtcpReceived.length;
  await server.deleteEndpoint(a.id);
  const bye = await waitForRtcp(pa, (ps) => ps.some((p) => p.kind === 'bye'), 2000);
  assert.ok(pa.rtcpReceived.length > count);
  assert.ok(bye.some((p) => p.kind === 'bye'));
});

test('after a transfer re-INVITE, a late RTCP BYE from the previous peer is dropped, not reported', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [oldPeer, newPeer] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    oldPeer.close();
    newPeer.close();
  });
  const ep = await server.createEndpoint({ remote_sdp: oldPeer.offer() });
  await server.updateEndpoint(ep.id, { remote_sdp: newPeer.offer() }); // media moves to the new peer
  const bye = (peer: RtpPeer, reason: string) => {
    const b = new Uint8Array(200);
    const n = buildCompoundRtcp(b, 0, { ssrc: peer.ssrc, reports: [], cname: 'x', bye: true, byeReason: reason });
    peer.rtcp.send(b.subarray(0, n), ep.rtcp_port, '127.0.0.1');
  };
  const reported = nextEvent(server, 'endpoint.rtcp_bye', (e) => e.endpoint_id === ep.id, 3000);
  bye(oldPeer, 'old'); // from the old peer's RTCP port: dropped
  bye(newPeer, 'new');
  assert.equal((await reported).reason, 'new');
  assert.equal((await server.getEndpoint(ep.id)).stats.dropped.source_mismatch, 1);
});
