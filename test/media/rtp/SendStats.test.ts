import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendStats } from '../../../src/media/rtp/SendStats.ts';
import { msToNtp, msToNtpMiddle32, ntpMiddle32 } from '../../../src/media/rtp/ntp.ts';

test('SendStats counts packets and payload octets and remembers the last timestamp', () => {
  const s = new SendStats(8000);
  assert.equal(s.sending, false);
  for (let i = 0; i < 10; i++) s.onPacketSent((0xfffffe00 + i * 160) >>> 0, 160, i * 20);
  assert.equal(s.sending, true);
  assert.equal(s.packets, 10);
  assert.equal(s.octets, 1600);
  assert.equal(s.lastRtpTimestamp, (0xfffffe00 + 9 * 160) >>> 0);
});

test('SendStats.senderInfo() extrapolates the RTP timestamp to the SR instant (RFC 3550 6.4.1)', () => {
  const s = new SendStats(8000);
  s.onPacketSent(0xffffff00, 160, 1000);
  const wall = 1700000000250;
  const info = s.senderInfo(wall, 1100);
  assert.equal(info.rtpTimestamp, (0xffffff00 + 800) >>> 0, '100 ms later at 8 kHz, wrapped');
  const [msw, lsw] = msToNtp(wall);
  assert.equal(info.ntpMsw, msw);
  assert.equal(info.ntpLsw, lsw);
  assert.equal(info.packetCount, 1);
  assert.equal(info.octetCount, 160);
  const out = { ntpMsw: 0, ntpLsw: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0 };
  assert.equal(s.senderInfo(wall, 1000, out), out);
  assert.equal(out.rtpTimestamp, 0xffffff00);
});

test('SendStats.onReportBlock() computes RTT from the LSR/DLSR the peer echoes', () => {
  const s = new SendStats(8000);
  assert.ok(Number.isNaN(s.rttMs));
  const srWall = 1700000000000;
  const [msw, lsw] = msToNtp(srWall);
  const lsr = ntpMiddle32(msw!, lsw!);
  // Peer held our SR 300 ms, the network took 40 ms each way: arrives 380 ms after we sent it.
  const block = {
    ssrc: 1,
    fractionLost: 12,
    cumulativeLost: 4,
    extendedHighestSeq: 100,
    jitter: 80,
    lsr,
    dlsr: Math.round(0.3 * 65536),
  };
  const rtt = s.onReportBlock(block, srWall + 380);
  assert.ok(Math.abs(rtt - 80) < 0.1, `rtt ${rtt}`);
  assert.equal(s.rttMs, rtt);
  assert.equal(s.peerFractionLost, 12);
  assert.equal(s.peerCumulativeLost, 4);
  assert.equal(s.peerJitterMs, 10);
  // A block without LSR keeps the previous RTT.
  assert.ok(Number.isNaN(s.onReportBlock({ ...block, lsr: 0, dlsr: 0 }, srWall + 5000)));
  assert.equal(s.rttMs, rtt);
  assert.ok(Math.abs(msToNtpMiddle32(srWall) - lsr) <= 1);
});
