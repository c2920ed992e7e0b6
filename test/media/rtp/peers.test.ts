/**
 * The RTP/RTCP code against real peers: a SIPp capture (Debian sip-tester) cross-checked with
 * tshark's RTP stream analysis, ffmpeg's RTP muxer sending RTP and RTCP over UDP, and tshark
 * dissecting what our writers produce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpPacket, serializeRtpHeader } from '../../../src/media/rtp/RtpPacket.ts';
import { ReceiveStats, SeqStatus } from '../../../src/media/rtp/ReceiveStats.ts';
import { parseRtcp, isRtcp, findCname, type RtcpPacket } from '../../../src/media/rtp/rtcp.ts';
import { buildCompoundRtcp } from '../../../src/media/rtp/rtcpWriter.ts';
import { readPcapFile, writePcapUdp } from '../../helpers/pcap.ts';
import { needs } from '../../helpers/peers.ts';

const run = promisify(execFile);
const G711A_PCAP = '/usr/share/sip-tester/g711a.pcap';

test(
  'RtpPacket and ReceiveStats agree with tshark on the SIPp G.711 A-law capture',
  needs('tshark', 'sipp-captures'),
  async () => {
    const { datagrams } = readPcapFile(G711A_PCAP);
    assert.equal(datagrams.length, 236);
    const view = new RtpPacket();
    const stats = new ReceiveStats(8000);
    let maxJitterMs = 0;
    let sumJitterMs = 0;
    for (const d of datagrams) {
      assert.equal(isRtcp(d.payload), false);
      assert.equal(RtpPacket.validate(d.payload), 0);
      view.wrap(d.payload, 0, d.payload.length);
      assert.equal(view.payloadType, 8);
      assert.equal(view.payloadLength, 240, '30 ms of PCMA');
      const st = stats.onPacket(view.ssrc, view.sequenceNumber, view.timestamp, view.payloadLength, d.timeMs);
      assert.ok(st === SeqStatus.IN_ORDER || st === SeqStatus.PROBATION);
      maxJitterMs = Math.max(maxJitterMs, stats.jitterMs);
      sumJitterMs += stats.jitterMs;
    }
    assert.equal(stats.ssrc, 0xdee0ee8f);
    assert.equal(stats.packets, 235, 'all but the probation packet');
    assert.equal(stats.cumulativeLost, 0);
    assert.equal(stats.duplicates + stats.late, 0);

    const { stdout } = await run('tshark', ['-r', G711A_PCAP, '-q', '-d', 'udp.port==5000,rtp', '-z', 'rtp,streams'], {
      timeout: 15000,
    });
    const row = stdout.split('\n').find((l) => l.includes('0xDEE0EE8F'));
    assert.ok(row !== undefined, stdout);
    // ... Pkts Lost (pct) MinDelta MeanDelta MaxDelta MinJitter MeanJitter MaxJitter
    const nums = row
      .replace(/\(.*?\)/g, '')
      .trim()
      .split(/\s+/)
      .slice(-8)
      .map(Number);
    const [pkts, lost, , , , , meanJitter, tsharkMaxJitter] = nums;
    assert.equal(pkts, 236);
    assert.equal(lost, 0);
    // tshark also times the first packet, we start after probation: figures agree to a few µs.
    assert.ok(
      Math.abs(maxJitterMs - tsharkMaxJitter!) < 0.01,
      `max jitter ${maxJitterMs} vs tshark ${tsharkMaxJitter}`,
    );
    assert.ok(Math.abs(sumJitterMs / datagrams.length - meanJitter!) < 0.01, `mean jitter vs tshark ${meanJitter}`);
  },
);

async function bindLocal(t: { after: (fn: () => void) => void }): Promise<Socket> {
  const s = createSocket('udp4');
  t.after(() => s.close());
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Resolves when `sock` receives `marker` (sent after the peer exited: everything before it is in). */
function drain(sock: Socket, marker: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const onMsg = (m: Buffer): void => {
      if (m.equals(marker)) {
        sock.off('message', onMsg);
        resolve();
      }
    };
    sock.on('message', onMsg);
    sock.send(marker, sock.address().port, '127.0.0.1');
  });
}

test('ffmpeg RTP and RTCP over UDP parse cleanly and count no loss', needs('ffmpeg'), async (t) => {
  const rtpSock = await bindLocal(t);
  const rtcpSock = await bindLocal(t);
  const marker = Buffer.from('end-of-test');
  const view = new RtpPacket();
  const stats = new ReceiveStats(8000);
  let rtpCount = 0;
  const rtcp: RtcpPacket[][] = [];
  rtpSock.on('message', (m) => {
    if (m.equals(marker)) return;
    assert.equal(RtpPacket.validate(m), 0);
    view.wrap(m, 0, m.length);
    assert.equal(view.payloadType, 0);
    stats.onPacket(view.ssrc, view.sequenceNumber, view.timestamp, view.payloadLength, rtpCount * 20);
    rtpCount++;
  });
  rtcpSock.on('message', (m) => {
    if (m.equals(marker)) return;
    assert.equal(isRtcp(m), true);
    const r = parseRtcp(m);
    assert.equal(r.error, 0);
    if (r.packets !== null) rtcp.push(r.packets);
  });
  const ff = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=f=440:sample_rate=8000:samples_per_frame=160',
      '-t',
      '1',
      '-c:a',
      'pcm_mulaw',
      '-f',
      'rtp',
      '-payload_type',
      '0',
      '-ssrc',
      '305419896',
      '-cname',
      'ffmpeg@test',
      `rtp://127.0.0.1:${rtpSock.address().port}?rtcpport=${rtcpSock.address().port}&pkt_size=200`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => ff.kill());
  let stderr = '';
  ff.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(ff, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  await Promise.all([drain(rtpSock, marker), drain(rtcpSock, marker)]);

  assert.equal(rtpCount, 50, '1 s of 20 ms packets');
  assert.equal(stats.ssrc, 305419896);
  assert.equal(stats.packets, 49);
  assert.equal(stats.cumulativeLost, 0);
  assert.ok(rtcp.length >= 1, 'ffmpeg sends an SR at the start');
  const first = rtcp[0]!;
  const sr = first[0];
  assert.ok(sr?.kind === 'sr');
  assert.equal(sr.ssrc, 305419896);
  assert.equal(findCname(first, 305419896), 'ffmpeg@test');
});

test('tshark dissects our RTP headers and compound RTCP without complaint', needs('tshark'), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rtp-tshark-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rtp = new Uint8Array(172);
  serializeRtpHeader(rtp, 0, { pt: 8, seq: 65535, ts: 0xfffffff0, ssrc: 0x01020304, marker: true });
  const rtcp = new Uint8Array(1500);
  const n = buildCompoundRtcp(rtcp, 0, {
    ssrc: 0x01020304,
    sender: { ntpMsw: 0xe9000000, ntpLsw: 0x80000000, rtpTimestamp: 0xfffffff0, packetCount: 500, octetCount: 80000 },
    reports: [
      {
        ssrc: 0x0a0b0c0d,
        fractionLost: 25,
        cumulativeLost: -3,
        extendedHighestSeq: 0x00012345,
        jitter: 77,
        lsr: 0xb7052000,
        dlsr: 0x00054000,
      },
    ],
    cname: 'media@127.0.0.1',
    bye: true,
    byeReason: 'done',
  });
  const pcap = join(dir, 'ours.pcap');
  writeFileSync(
    pcap,
    writePcapUdp([
      { srcPort: 20000, dstPort: 30000, payload: rtp },
      { srcPort: 20001, dstPort: 30001, payload: rtcp.subarray(0, n) },
    ]),
  );
  const fields = [
    'rtp.version',
    'rtp.marker',
    'rtp.p_type',
    'rtp.seq',
    'rtp.timestamp',
    'rtp.ssrc',
    'rtcp.senderssrc',
    'rtcp.sender.packetcount',
    'rtcp.sender.octetcount',
    'rtcp.timestamp.rtp',
    'rtcp.ssrc.fraction',
    'rtcp.ssrc.cum_nr',
    'rtcp.ssrc.ext_high',
    'rtcp.ssrc.identifier',
    'rtcp.ssrc.jitter',
    'rtcp.ssrc.lsr',
    'rtcp.ssrc.dlsr',
    'rtcp.sdes.text',
    'rtcp.length_check',
    '_ws.expert.severity',
  ];
  const { stdout } = await run(
    'tshark',
    [
      '-r',
      pcap,
      '-d',
      'udp.port==30000,rtp',
      '-d',
      'udp.port==30001,rtcp',
      '-T',
      'fields',
      '-E',
      'separator=|',
      ...fields.flatMap((f) => ['-e', f]),
    ],
    { timeout: 15000 },
  );
  const [rtpLine, rtcpLine] = stdout
    .trim()
    .split('\n')
    .map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i], v])));
  assert.deepEqual(
    [
      rtpLine?.['rtp.version'],
      rtpLine?.['rtp.marker'],
      rtpLine?.['rtp.p_type'],
      rtpLine?.['rtp.seq'],
      rtpLine?.['rtp.timestamp'],
      rtpLine?.['rtp.ssrc'],
    ],
    ['2', truthy(rtpLine?.['rtp.marker']), '8', '65535', String(0xfffffff0), '0x01020304'],
  );
  assert.equal(truthy(rtpLine?.['rtp.marker']), '1');
  assert.equal(rtcpLine?.['rtcp.senderssrc'], '0x01020304');
  assert.equal(rtcpLine?.['rtcp.sender.packetcount'], '500');
  assert.equal(rtcpLine?.['rtcp.sender.octetcount'], '80000');
  assert.equal(rtcpLine?.['rtcp.timestamp.rtp'], String(0xfffffff0));
  assert.equal(rtcpLine?.['rtcp.ssrc.fraction'], '25');
  assert.equal(rtcpLine?.['rtcp.ssrc.cum_nr'], '-3');
  assert.equal(rtcpLine?.['rtcp.ssrc.ext_high'], String(0x12345));
  assert.equal(
    rtcpLine?.['rtcp.ssrc.identifier'],
    '0x0a0b0c0d,0x01020304,0x01020304',
    'report block, SDES chunk, BYE source',
  );
  assert.equal(rtcpLine?.['rtcp.ssrc.jitter'], '77');
  assert.equal(rtcpLine?.['rtcp.ssrc.lsr'], String(0xb7052000));
  assert.equal(rtcpLine?.['rtcp.ssrc.dlsr'], String(0x54000));
  assert.equal(rtcpLine?.['rtcp.sdes.text'], 'media@127.0.0.1,done', 'CNAME, then the BYE reason');
  assert.equal(truthy(rtcpLine?.['rtcp.length_check']), '1', 'lengths of the compound add up');
  assert.equal(rtcpLine?.['_ws.expert.severity'] ?? '', '', 'no expert warnings (padding, BYE reason)');
});

/** tshark prints booleans as 1/0 or True/False depending on its version. */
function truthy(v: string | undefined): string {
  return v === 'True' || v === '1' ? '1' : v === 'False' || v === '0' ? '0' : String(v);
}
