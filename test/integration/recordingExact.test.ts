import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { freeUdpPortPair, run } from '../helpers/proc.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { decodeWithFfmpeg } from '../helpers/audio.ts';
import { setup } from './recordingHelpers.ts';
import { needs } from '../helpers/peers.ts';

/**
 * A recording of a loss-free PCMU stream is the stream, sample for sample: whatever the pacing,
 * nothing is inserted or dropped. The audio is made and decoded by ffmpeg (µ-law noise and a
 * sweep), sent from a real UDP socket with jittery pacing, or by ffmpeg itself as the RTP sender.
 */

const SECONDS = 6;

/** `seconds` of µ-law made by ffmpeg: pink noise plus a sweep, deterministic (seeded). */
async function mulawSource(dir: string, seconds: number): Promise<{ file: string; bytes: Buffer; pcm: Int16Array }> {
  const file = path.join(dir, 'source.ul');
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `anoisesrc=duration=${seconds}:color=pink:sample_rate=8000:amplitude=0.2:seed=11`,
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=0.2*sin(2*PI*(200+300*t)*t):s=8000:d=${seconds}`,
    '-filter_complex',
    'amix=inputs=2:normalize=0',
    '-ac',
    '1',
    '-ar',
    '8000',
    '-c:a',
    'pcm_mulaw',
    '-f',
    'mulaw',
    file,
  ];
  const r = await run('ffmpeg', args).done;
  assert.equal(r.code, 0, r.stderr);
  const decoded = `${file}.s16`;
  const d = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'mulaw',
    '-ar',
    '8000',
    '-ac',
    '1',
    '-i',
    file,
    '-f',
    's16le',
    decoded,
  ]).done;
  assert.equal(d.code, 0, d.stderr);
  const b = readFileSync(decoded);
  return {
    file,
    bytes: readFileSync(file),
    pcm: new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)),
  };
}

/** Where `ref` starts in `got` (its first 40 samples matched exactly), or -1. */
function locate(ref: Int16Array, got: Int16Array): number {
  outer: for (let p = 0; p + 40 <= got.length; p++) {
    for (let i = 0; i < 40; i++) if (got[p + i] !== ref[i]) continue outer;
    return p;
  }
  return -1;
}

/** Compares the recording with the source: where it starts, samples differing, first difference. */
function compare(
  ref: Int16Array,
  got: Int16Array,
): { at: number; covered: number; differing: number; firstDiff: number } {
  const at = locate(ref, got);
  if (at < 0) return { at, covered: 0, differing: ref.length, firstDiff: 0 };
  const covered = Math.min(ref.length, got.length - at);
  let differing = ref.length - covered;
  let firstDiff = covered < ref.length ? covered : -1;
  for (let i = 0; i < covered; i++) {
    if (got[at + i] !== ref[i]) {
      differing++;
      if (firstDiff < 0 || i < firstDiff) firstDiff = i;
    }
  }
  return { at, covered, differing, firstDiff };
}

/** A seeded PRNG (mulberry32): the same jitter every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves once the endpoint counted `n` received packets (they are all in the worker). */
async function untilReceived(server: MediaServer, id: string, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await server.getEndpoint(id)).stats.packets_received >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`endpoint ${id} received ${(await server.getEndpoint(id)).stats.packets_received} of ${n} packets`);
}

test(
  'a recording of a loss-free PCMU stream sent with jittery pacing is sample-exact with what was sent',
  needs('ffmpeg'),
  async (t) => {
    const { dir, server, recordings } = await setup(t);
    const src = await mulawSource(dir, SECONDS);
    const peer = await RtpPeer.open();
    t.after(() => peer.close());
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu'], { telephoneEvent: false }) });
    const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });

    // Realistic but jittery: each packet 0-30 ms late, a 60-120 ms stall now and then (the packets
    // held back then leave in a burst), and now and then two neighbours swapped (sent back to back,
    // so the test's own scheduling on a loaded machine cannot turn a swap into a long delay).
    // Nothing lost.
    const frames = src.bytes.length / 160;
    const rnd = prng(7);
    const due: Array<{ i: number; at: number }> = [];
    let stall = 0;
    let last = 0;
    for (let i = 0; i < frames; i++) {
      if (i % 50 === 25) stall = 60 + rnd() * 60;
      last = Math.max(last, i * 20 + rnd() * rnd() * 30 + stall);
      stall = Math.max(0, stall - 20);
      due.push({ i, at: last });
    }
    for (let i = 10; i + 1 < frames; i += 37) {
      due[i]!.at = due[i + 1]!.at;
      [due[i], due[i + 1]] = [due[i + 1]!, due[i]!];
    }
    const seq0 = peer.seq;
    const ts0 = peer.ts;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      let k = 0;
      const timer = setInterval(() => {
        const now = performance.now() - start;
        for (; k < due.length && due[k]!.at <= now; k++) {
          const i = due[k]!.i;
          peer.seq = (seq0 + i) & 0xffff;
          peer.ts = (ts0 + i * 160) >>> 0;
          peer.send(ep.rtp_port, src.bytes.subarray(i * 160, i * 160 + 160), 0, { marker: i === 0 });
        }
        if (k >= due.length) {
          clearInterval(timer);
          resolve();
        }
      }, 4);
    });
    await untilReceived(server, ep.id, frames);
    const r = await recordings.stop(rec.id);
    const got = await decodeWithFfmpeg(r.path);
    const c = compare(src.pcm, got);
    assert.ok(c.at >= 0, 'the start of the stream is in the recording, unchanged');
    assert.equal(c.covered, src.pcm.length, `the whole stream is recorded (${c.covered} of ${src.pcm.length} samples)`);
    assert.equal(c.differing, 0, `${c.differing} samples differ, the first at ${(c.firstDiff / 8).toFixed(1)} ms`);
    const jb = (await server.getEndpoint(ep.id)).stats.jitter_buffer;
    assert.ok(
      jb && jb.lost === 0 && jb.concealed === 0 && jb.discarded === 0 && jb.late === 0,
      `nothing lost, concealed or discarded: ${JSON.stringify(jb)}`,
    );
  },
);

test('a recording of ffmpeg sending PCMU RTP is sample-exact with what ffmpeg sent', needs('ffmpeg'), async (t) => {
  const { dir, server, recordings } = await setup(t);
  const src = await mulawSource(dir, SECONDS);
  const senderPort = await freeUdpPortPair();
  const sdp = [
    'v=0',
    'o=ffmpeg 1 1 IN IP4 127.0.0.1',
    's=peer',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${senderPort} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
  const ep = await server.createEndpoint({ remote_sdp: sdp });
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
  const sender = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'mulaw',
      '-ar',
      '8000',
      '-ac',
      '1',
      '-i',
      src.file,
      '-c:a',
      'copy',
      '-payload_type',
      '0',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${ep.rtp_port}?localrtpport=${senderPort}&pkt_size=172`,
    ],
    30_000,
  ).done;
  assert.equal(sender.code, 0, sender.stderr);
  await untilReceived(server, ep.id, src.bytes.length / 160);
  const r = await recordings.stop(rec.id);
  const got = await decodeWithFfmpeg(r.path);
  const c = compare(src.pcm, got);
  assert.ok(c.at >= 0, 'the start of the stream is in the recording, unchanged');
  assert.equal(c.covered, src.pcm.length, `the whole stream is recorded (${c.covered} of ${src.pcm.length} samples)`);
  assert.equal(c.differing, 0, `${c.differing} samples differ, the first at ${(c.firstDiff / 8).toFixed(1)} ms`);
});

test('a stereo bridge recording keeps both legs sample-exact and aligned by arrival', needs('ffmpeg'), async (t) => {
  const { dir, server, recordings } = await setup(t);
  const src = await mulawSource(dir, 3);
  const legs: Array<{ peer: RtpPeer; ep: Awaited<ReturnType<MediaServer['createEndpoint']>> }> = [];
  for (let i = 0; i < 2; i++) {
    const peer = await RtpPeer.open();
    t.after(() => peer.close());
    const ep = await server.createEndpoint({
      remote_sdp: peer.offer(['pcmu'], { telephoneEvent: false }),
      affinity: 'exact-bridge',
    });
    legs.push({ peer, ep });
  }
  const bridge = await server.createBridge({ endpoint_a: legs[0]!.ep.id, endpoint_b: legs[1]!.ep.id });
  const rec = await recordings.start({ bridgeId: bridge.id, format: 'wav', channels: 'stereo' });
  // Both legs carry the same audio, each packet sent to both in the same instant: leg B starts
  // 10 frames (200 ms) later, so the right channel must be the left one 200 ms later.
  const frames = src.bytes.length / 160;
  const firstSent = [0, 0];
  await server.workerMetrics(); // starts the worker's event-loop lag measurement afresh
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let k = 0;
    const timer = setInterval(() => {
      const due = Math.min(frames + 10, Math.floor((performance.now() - start) / 20) + 1);
      for (; k < due; k++) {
        if (k === 0) firstSent[0] = performance.now();
        if (k === 10) firstSent[1] = performance.now();
        if (k < frames) legs[0]!.peer.send(legs[0]!.ep.rtp_port, src.bytes.subarray(k * 160, k * 160 + 160), 0);
        if (k >= 10)
          legs[1]!.peer.send(legs[1]!.ep.rtp_port, src.bytes.subarray((k - 10) * 160, (k - 10) * 160 + 160), 0);
      }
      if (k >= frames + 10) {
        clearInterval(timer);
        resolve();
      }
    }, 4);
  });
  await untilReceived(server, legs[0]!.ep.id, frames);
  await untilReceived(server, legs[1]!.ep.id, frames);
  const lagMs = Math.max(...(await server.workerMetrics()).map((w) => w.eventLoopLagMs.max));
  const r = await recordings.stop(rec.id);
  const both = await decodeWithFfmpeg(r.path, 8000, 2);
  const left = new Int16Array(both.length / 2);
  const right = new Int16Array(both.length / 2);
  for (let i = 0; i < left.length; i++) {
    left[i] = both[2 * i]!;
    right[i] = both[2 * i + 1]!;
  }
  const a = compare(src.pcm, left);
  const b = compare(src.pcm, right);
  assert.equal(a.differing, 0, `left: ${a.differing} samples differ`);
  assert.equal(b.differing, 0, `right: ${b.differing} samples differ`);
  // The channels are as far apart as the legs' first packets were when sent, give or take a
  // frame and how late the worker's event loop stamped an arrival in this run.
  const sentApartMs = firstSent[1]! - firstSent[0]!;
  const skewMs = (b.at - a.at) / 8 - sentApartMs;
  assert.ok(
    Math.abs(skewMs) <= 20 + lagMs,
    `right channel is ${skewMs.toFixed(1)} ms off the ${sentApartMs.toFixed(1)} ms between the first packets (worker lag up to ${lagMs.toFixed(1)} ms)`,
  );
});
