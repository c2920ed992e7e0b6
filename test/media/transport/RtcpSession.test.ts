import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msToNtp, ntpMiddle32 } from '../../../src/media/rtp/ntp.ts';
import { parseRtcp } from '../../../src/media/rtp/rtcp.ts';
import { buildCompoundRtcp } from '../../../src/media/rtp/rtcpWriter.ts';
import { RtcpSession } from '../../../src/media/transport/RtcpSession.ts';
import { RtpSender } from '../../../src/media/transport/RtpSender.ts';

const PEER_SSRC = 0xabcdef01;

function feed(session: RtcpSession, n: number, startMs: number, lose: Set<number> = new Set()): void {
  for (let i = 0; i < n; i++) {
    if (lose.has(i)) continue;
    session.onRtp(PEER_SSRC, (1000 + i) & 0xffff, 160 * i, 160, startMs + 20 * i, false);
  }
}

test('RtcpSession.buildReport() writes an RR with loss and CNAME when we sent nothing', () => {
  const sender = new RtpSender();
  const s = new RtcpSession(sender, 'ep@test');
  feed(s, 100, 0, new Set([50, 51, 52, 53]));
  const len = s.buildReport(2000, false);
  const parsed = parseRtcp(s.outBuffer, 0, len);
  assert.equal(parsed.error, 0);
  const [rr, sdes] = parsed.packets!;
  assert.equal(rr?.kind, 'rr');
  if (rr?.kind !== 'rr' || sdes?.kind !== 'sdes') throw new Error('unexpected packets');
  assert.equal(rr.ssrc, sender.ssrc);
  assert.equal(rr.reports[0]!.ssrc, PEER_SSRC);
  assert.equal(rr.reports[0]!.cumulativeLost, 4);
  assert.equal(rr.reports[0]!.fractionLost, Math.floor((4 * 256) / 99)); // probation packet excluded
  assert.equal(sdes.chunks[0]!.items[0]!.value, 'ep@test');
});

test("RtcpSession reports LSR/DLSR for the peer's SR and computes RTT from the peer's report", () => {
  const sender = new RtpSender();
  const s = new RtcpSession(sender, 'ep@test');
  feed(s, 10, 0);
  // The peer's SR arrives at t=300 ms.
  const ntp = msToNtp(Date.now());
  const peerSr = new Uint8Array(200);
  const n = buildCompoundRtcp(peerSr, 0, {
    ssrc: PEER_SSRC,
    sender: { ntpMsw: ntp[0]!, ntpLsw: ntp[1]!, rtpTimestamp: 1, packetCount: 10, octetCount: 1600 },
    reports: [],
    cname: 'peer',
  });
  assert.notEqual(s.onRtcp(peerSr.subarray(0, n), 300), null);
  // Our report 500 ms later carries LSR = middle 32 bits of that NTP and DLSR = 0.5 s.
  sender.count(172); // we sent something: an SR
  const len = s.buildReport(800, false);
  const parsed = parseRtcp(s.outBuffer, 0, len);
  const sr = parsed.packets![0]!;
  if (sr.kind !== 'sr') throw new Error('expected an SR');
  assert.equal(sr.reports[0]!.lsr, ntpMiddle32(ntp[0]!, ntp[1]!));
  assert.ok(Math.abs(sr.reports[0]!.dlsr - 0.5 * 65536) <= 2, `DLSR ${sr.reports[0]!.dlsr}`);
  assert.equal(sr.packetCount, 1);

  // The peer answers with a report block on our SSRC: LSR = our SR, DLSR = 40 ms.
  const ourNtpMiddle = ntpMiddle32(sr.ntpMsw, sr.ntpLsw);
  const rr = new Uint8Array(200);
  const m = buildCompoundRtcp(rr, 0, {
    ssrc: PEER_SSRC,
    cname: 'peer',
    reports: [
      {
        ssrc: sender.ssrc,
        fractionLost: 0,
        cumulativeLost: 0,
        extendedHighestSeq: 0,
        jitter: 0,
        lsr: ourNtpMiddle,
        dlsr: Math.round(0.04 * 65536),
      },
    ],
  });
  // It arrives 100 ms after our SR was built: RTT = 100 - 40 = 60 ms.
  s.onRtcp(rr.subarray(0, m), 900);
  const rtt = s.receiveSummary().rttMs;
  assert.ok(rtt !== null && Math.abs(rtt - 60) < 1, `RTT ${rtt}`);
});

test('RtcpSession rejects malformed compound packets', () => {
  const s = new RtcpSession(new RtpSender(), 'x');
  assert.equal(s.onRtcp(new Uint8Array([0x80, 201, 0, 7, 1, 2]), 0), null);
  assert.equal(s.onRtcp(new Uint8Array([0x80, 202, 0, 0]), 0), null, 'a compound must start with SR or RR');
});

test('RtcpSession: telephone-event packets count for loss but not for jitter (RFC 4733 2.3)', () => {
  const s = new RtcpSession(new RtpSender(), 'x');
  for (let i = 0; i < 50; i++) s.onRtp(PEER_SSRC, i, 160 * i, 160, 20 * i, false);
  // ten event packets 20 ms apart sharing one timestamp
  for (let i = 50; i < 60; i++) s.onRtp(PEER_SSRC, i, 160 * 50, 4, 20 * i, true);
  const summary = s.receiveSummary();
  assert.equal(summary.jitterMs, 0);
  assert.equal(summary.packetsLost, 0);
});
