import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';

/**
 * Packet loss concealment across the wire: a peer sends a voiced tone as PCMU with packets
 * missing, a decoding bridge (PCMU -> L16/8000: decode, jitter buffer, PLC, re-encode) conceals
 * them with the G.711 Appendix I PLC, and a second peer receives the linear PCM, so the test reads
 * exactly what the concealment produced. (PCMU <-> PCMA bridges translate payloads by table and
 * pass losses on to the far receiver, whose own PLC conceals them.)
 */

const F0 = 137; // 20 ms is 2.74 periods: repeating the last frame would jump in phase

function voiced(samples: number): Int16Array {
  const x = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = i / 8000;
    let v = 0;
    for (let h = 1; h <= 4; h++) v += Math.sin(2 * Math.PI * F0 * h * t + h * 0.7) / h;
    const ramp = Math.min(1, i / 800, (samples - i) / 800); // no step at the start or the end
    x[i] = Math.round(6000 * v * ramp);
  }
  return x;
}

test('Bridge PCMU -> L16 conceals lost packets with G.711 PLC: the received waveform has no gap and no step', async (t) => {
  const server = await startServer({ CODECS: 'pcmu,l16,telephone-event' }); // L16 is off by default
  t.after(() => server.close());
  const sender = await RtpPeer.open();
  t.after(() => sender.close());
  const receiver = await RtpPeer.open();
  t.after(() => receiver.close());
  const a = await server.createEndpoint({ remote_sdp: sender.offer(['pcmu'], { telephoneEvent: false }) });
  const l16Offer = [
    'v=0',
    'o=peer 1 1 IN IP4 127.0.0.1',
    's=test',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${receiver.port} RTP/AVP 96`,
    'a=rtpmap:96 L16/8000',
    `a=rtcp:${receiver.rtcpPort}`,
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
  const b = await server.createEndpoint({ remote_sdp: l16Offer });
  assert.equal(b.codec?.name, 'l16');
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });

  const frames = 75; // 1.5 s
  const x = voiced(frames * 160);
  // Single and double losses: the jitter buffer may conceal one frame more while it deepens its
  // delay, and Appendix I mutes after 60 ms, so longer bursts would rightly end in silence.
  const lost = new Set([25, 40, 41, 55, 56]);
  const payload = new Uint8Array(160);
  const start = performance.now();
  for (let f = 0; f < frames; f++) {
    if (lost.has(f)) {
      // Lost on the way: sequence number and timestamp move on, nothing arrives.
      sender.seq = (sender.seq + 1) & 0xffff;
      sender.ts = (sender.ts + 160) >>> 0;
    } else {
      for (let i = 0; i < 160; i++) payload[i] = linearToUlaw(x[f * 160 + i]!);
      sender.send(a.rtp_port, payload, 0);
    }
    const wait = start + (f + 1) * 20 - performance.now(); // real-time pacing, as a phone would
    if (wait > 0) await delay(wait);
  }
  await receiver.waitFor(frames - 10);

  const stats = (await server.getEndpoint(a.id)).stats;
  assert.equal(stats.packets_lost, lost.size, 'the losses reached the server');

  const packets = receiver.received.filter((p) => p.pt === 96).sort((p, q) => ((p.seq - q.seq) << 16) >> 16);
  for (let i = 1; i < packets.length; i++)
    assert.equal((packets[i]!.seq - packets[i - 1]!.seq) & 0xffff, 1, 'no gap on the way out');
  const y = new Int16Array(packets.length * 160);
  let n = 0;
  for (const p of packets) for (let i = 0; i + 1 < p.payload.length; i += 2) y[n++] = p.payload.readInt16BE(i);
  let maxStepRef = 0;
  for (let i = 1; i < x.length; i++) maxStepRef = Math.max(maxStepRef, Math.abs(x[i]! - x[i - 1]!));
  // The tone's span in the received stream (10 ms blocks above a quiet level).
  const loud: number[] = [];
  for (let i = 0; i + 80 <= n; i += 80) {
    let s = 0;
    for (let k = i; k < i + 80; k++) s += y[k]! ** 2;
    if (Math.sqrt(s / 80) > 300) loud.push(i / 80);
  }
  assert.ok(loud.length > 0, 'the tone came through');
  const first = loud[0]!;
  const last = loud[loud.length - 1]!;
  // Every 10 ms of the tone's span carries signal: lost packets were filled, not left silent.
  const span = last - first + 1;
  assert.ok(loud.length === span, `${span - loud.length} quiet 10 ms blocks inside the tone`);
  assert.ok(span * 80 >= (frames - 12) * 160, `tone span ${span * 10} ms of ${frames * 20} ms`);
  // And the waveform is continuous: no sample-to-sample jump beyond the source's own largest.
  let worst = 0;
  let at = 0;
  for (let i = first * 80 + 1; i < (last + 1) * 80; i++) {
    const d = Math.abs(y[i]! - y[i - 1]!);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= 1.3 * maxStepRef, `step ${worst} at received sample ${at}, source's largest ${maxStepRef}`);
});
