import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { MIN_SEQUENTIAL, ReceiveStats } from '../../src/media/rtp/ReceiveStats.ts';
import { readPcapFile } from '../helpers/pcap.ts';
import { run } from '../helpers/proc.ts';
import { startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';

/**
 * SIPp's G.711 A-law capture (Debian sip-tester) against tshark's RTP analysis of the same file:
 * the packet count and jitter we compute must match what Wireshark computes.
 */
const CAPTURE = '/usr/share/sip-tester/g711a.pcap';

interface TsharkStream {
  packets: number;
  lost: number;
  meanJitterMs: number;
  maxJitterMs: number;
}

async function tsharkStreams(): Promise<TsharkStream> {
  const r = await run('tshark', ['-r', CAPTURE, '-d', 'udp.port==5000,rtp', '-q', '-z', 'rtp,streams']).done;
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => /g711A/.test(l));
  assert.ok(line, `no stream line in tshark output:\n${r.stdout}`);
  // ... SSRC  Payload  Pkts  Lost (x%)  MinDelta MeanDelta MaxDelta MinJitter MeanJitter MaxJitter
  const m = /g711A\s+(\d+)\s+(-?\d+)\s+\([^)]*\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)/.exec(line);
  assert.ok(m, `unexpected tshark line: ${line}`);
  return { packets: Number(m[1]), lost: Number(m[2]), meanJitterMs: Number(m[3]), maxJitterMs: Number(m[4]) };
}

test(
  "ReceiveStats on the capture's own arrival times matches tshark's jitter (RFC 3550 A.8)",
  needs('tshark', 'sipp-captures'),
  async () => {
    const expected = await tsharkStreams();
    const rtp = readPcapFile(CAPTURE).datagrams.filter((d) => d.srcPort === 5000);
    const stats = new ReceiveStats(8000);
    let sum = 0;
    let max = 0;
    for (const d of rtp) {
      const p = d.payload;
      stats.onPacket(p.readUInt32BE(8), p.readUInt16BE(2), p.readUInt32BE(4), p.length - 12, d.timeMs);
      sum += stats.jitterMs;
      max = Math.max(max, stats.jitterMs);
    }
    // RFC 3550 A.1 keeps the packets of the probation period out of the statistics.
    assert.equal(stats.packets, expected.packets - (MIN_SEQUENTIAL - 1));
    assert.equal(stats.cumulativeLost, expected.lost);
    assert.ok(
      Math.abs(sum / rtp.length - expected.meanJitterMs) < 0.01,
      `mean jitter ${sum / rtp.length} vs tshark ${expected.meanJitterMs}`,
    );
    assert.ok(Math.abs(max - expected.maxJitterMs) < 0.01, `max jitter ${max} vs tshark ${expected.maxJitterMs}`);
  },
);

test(
  'the capture replayed into an endpoint in real time: same packet count, no loss, jitter of the same order',
  needs('tshark', 'sipp-captures'),
  async (t) => {
    const expected = await tsharkStreams();
    const server = await startServer();
    t.after(() => server.close());
    const sock = dgram.createSocket('udp4');
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    t.after(() => sock.close());
    const offer = [
      'v=0',
      'o=sipp 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${sock.address().port} RTP/AVP 8`,
      'a=rtpmap:8 PCMA/8000',
      'a=ptime:30',
      '',
    ].join('\r\n');
    const ep = await server.createEndpoint({ remote_sdp: offer });
    assert.equal(ep.codec?.name, 'pcma');

    const rtp = readPcapFile(CAPTURE).datagrams.filter((d) => d.srcPort === 5000);
    await server.workerMetrics(); // the worker's event-loop lag is measured afresh from here
    const start = performance.now();
    let sendLateMs = 0;
    for (const d of rtp) {
      const wait = d.timeMs - (performance.now() - start);
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      sendLateMs = Math.max(sendLateMs, performance.now() - start - d.timeMs);
      sock.send(d.payload, ep.rtp_port, '127.0.0.1');
    }
    const lagMs = Math.max(...(await server.workerMetrics()).map((w) => w.eventLoopLagMs.max));
    // The endpoint has seen every packet once its counter reaches the count (bounded wait).
    let info = await server.getEndpoint(ep.id);
    for (let i = 0; i < 50 && info.stats.packets_received < rtp.length; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await server.getEndpoint(ep.id);
    }
    assert.equal(info.stats.packets_received, expected.packets);
    assert.equal(info.stats.packets_lost, expected.lost);
    // Replaying with timers adds scheduling noise of its own (much more on a loaded machine), so
    // the exact comparison is the test above; here only the scale: ms, not timestamp units, within
    // what this run's replay and the worker's event loop were measured to add.
    const bound = 40 + sendLateMs + lagMs;
    assert.ok(
      info.stats.jitter_ms < bound,
      `jitter ${info.stats.jitter_ms} ms vs tshark max ${expected.maxJitterMs} (replay late up to ${sendLateMs.toFixed(1)} ms, worker lag up to ${lagMs.toFixed(1)} ms)`,
    );
    assert.ok(info.stats.mos > 4, `MOS ${info.stats.mos} for a clean stream`);
  },
);
