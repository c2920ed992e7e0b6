import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCompoundRtcp } from '../../src/media/rtp/rtcpWriter.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

test('rtcp-mux (RFC 5761): RTCP on the RTP port is demultiplexed, RTP keeps flowing', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer().replace('a=ptime:20', 'a=ptime:20\r\na=rtcp-mux') });
  assert.equal(a.rtcp_mux, true);
  assert.match(a.sdp, /a=rtcp-mux/);
  assert.equal(a.rtcp_port, a.rtp_port, 'RTCP shares the RTP port');
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });

  pa.send(a.rtp_port, Buffer.alloc(160, 1));
  await pb.waitFor(1);
  // A compound RR + SDES + BYE from the peer, on the RTP port.
  const rtcp = new Uint8Array(200);
  const n = buildCompoundRtcp(rtcp, 0, { ssrc: pa.ssrc, reports: [], cname: 'peer-a', bye: true, byeReason: 'done' });
  const bye = nextEvent(server, 'endpoint.rtcp_bye', (e) => e.endpoint_id === a.id);
  pa.sendRaw(a.rtp_port, rtcp.subarray(0, n));
  assert.equal((await bye).reason, 'done');
  pa.send(a.rtp_port, Buffer.alloc(160, 2));
  await pb.waitFor(2);
  const stats = (await server.getEndpoint(a.id)).stats;
  assert.equal(stats.packets_received, 2, 'RTCP was not counted as RTP');
  assert.equal(stats.dropped.unknown_payload_type ?? 0, 0, 'nor dropped as an unknown payload type');
});
