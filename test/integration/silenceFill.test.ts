import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import OpusScript from 'opusscript';
import { loadConfig } from '../../src/config/config.ts';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

/**
 * SILENCE_FILL over real UDP: an endpoint with a remote address, not on hold, not bridged and with
 * nothing playing keeps sending (comfort noise where CN was negotiated, else encoded silence), its
 * stream continuous across a prompt; bridged, held or SILENCE_FILL=off endpoints send nothing.
 * Gaps are bounded by the packet interval plus the lateness both sides measured in the same run.
 */

interface Arrival {
  pkt: ReceivedRtp;
  atMs: number;
}

async function openPeer(t: TestContext): Promise<{ peer: RtpPeer; arrivals: Arrival[] }> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const arrivals: Arrival[] = [];
  // RtpPeer's own listener runs first (registered in open()): the packet is its last one.
  peer.rtp.on('message', (msg) => {
    if (msg.length >= 12 && !(msg[1]! >= 192 && msg[1]! <= 223))
      arrivals.push({ pkt: peer.received.at(-1)!, atMs: performance.now() });
  });
  return { peer, arrivals };
}

async function server(t: TestContext, env: Record<string, string> = {}): Promise<MediaServer> {
  const s = await startServer({ SILENCE_FILL: 'cn', ...env });
  t.after(() => s.close());
  return s;
}

function offerWithCn(peer: RtpPeer): string {
  return peer
    .offer(['pcmu'], { telephoneEvent: false })
    .replace('RTP/AVP 0', 'RTP/AVP 0 13')
    .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000');
}

/** Largest media clock lateness of the server's workers since the previous call. */
async function workerLateMs(s: MediaServer): Promise<number> {
  const all = await s.workerMetrics();
  return Math.max(0, ...all.map((w) => Math.max(w.clock?.lateMaxMs ?? 0, w.eventLoopLagMs.max)));
}

/** Our own event loop's largest delay over a run: arrivals are timed by it. */
function ownLag(t: TestContext): () => number {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  t.after(() => h.disable());
  return () => h.max / 1e6;
}

function maxGap(arrivals: Arrival[]): number {
  let gap = 0;
  for (let i = 1; i < arrivals.length; i++) gap = Math.max(gap, arrivals[i]!.atMs - arrivals[i - 1]!.atMs);
  return gap;
}

function sdpHas(sdp: string, re: RegExp): boolean {
  return re.test(sdp);
}

test('an idle PCMU endpoint sends encoded silence every ptime, a continuous stream', async (t) => {
  const s = await server(t);
  const lag = ownLag(t);
  const { peer, arrivals } = await openPeer(t);
  await workerLateMs(s);
  const ep = await s.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  t.after(() => s.deleteEndpoint(ep.id).catch(() => {}));
  await peer.waitFor(50, 5000);
  const late = Math.max(await workerLateMs(s), 0) + lag();
  const got = arrivals.slice(0, 50);
  for (const { pkt } of got) {
    assert.equal(pkt.pt, 0);
    assert.equal(pkt.payload.length, 160);
    assert.ok(
      pkt.payload.every((b) => b === 0xff),
      'μ-law digital silence',
    );
  }
  for (let i = 1; i < got.length; i++) {
    assert.equal((got[i]!.pkt.seq - got[i - 1]!.pkt.seq) & 0xffff, 1, 'sequence numbers continue');
    assert.equal((got[i]!.pkt.ts - got[i - 1]!.pkt.ts) >>> 0, 160, 'one 20 ms frame per packet');
  }
  const gap = maxGap(got);
  assert.ok(
    gap <= 20 + late + 5,
    `largest gap ${gap.toFixed(1)} ms; ptime 20, lateness measured ${late.toFixed(1)} ms`,
  );
});

test('with CN negotiated an idle endpoint sends comfort noise (RFC 3389) at start and every 200 ms', async (t) => {
  const s = await server(t);
  const lag = ownLag(t);
  const { peer, arrivals } = await openPeer(t);
  await workerLateMs(s);
  const ep = await s.createEndpoint({ remote_sdp: offerWithCn(peer) });
  t.after(() => s.deleteEndpoint(ep.id).catch(() => {}));
  assert.ok(sdpHas(ep.sdp, /m=audio \d+ RTP\/AVP 0 13\r\n/), ep.sdp);
  await peer.waitFor(6, 5000);
  const late = (await workerLateMs(s)) + lag();
  const got = arrivals.slice(0, 6);
  for (const { pkt } of got) {
    assert.equal(pkt.pt, 13);
    assert.deepEqual([...pkt.payload], [127], 'noise level byte only: -127 dBov');
  }
  for (let i = 1; i < got.length; i++) {
    assert.equal((got[i]!.pkt.seq - got[i - 1]!.pkt.seq) & 0xffff, 1);
    assert.equal((got[i]!.pkt.ts - got[i - 1]!.pkt.ts) >>> 0, 1600, 'timestamps follow the 200 ms between updates');
  }
  const gap = maxGap(got);
  assert.ok(
    gap <= 200 + late + 5,
    `largest gap ${gap.toFixed(1)} ms; interval 200, lateness measured ${late.toFixed(1)} ms`,
  );
});

test('a prompt continues the silence stream: next sequence number, timestamp one frame on, marker; silence resumes after it', async (t) => {
  const s = await server(t);
  const { peer } = await openPeer(t);
  const ep = await s.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  t.after(() => s.deleteEndpoint(ep.id).catch(() => {}));
  await peer.waitFor(10, 5000);
  const result = await s.playback.play(ep.id, ['tone:1000:200']);
  assert.equal(result.reason, 'done');
  const isSilence = (p: ReceivedRtp): boolean => p.payload.every((b) => b === 0xff);
  const firstTone = peer.received.findIndex((p) => !isSilence(p));
  assert.ok(firstTone > 0, 'silence, then the tone');
  // Silence again after the tone (wait for a few packets of it).
  let lastTone = firstTone;
  while (lastTone + 1 < peer.received.length && !isSilence(peer.received[lastTone + 1]!)) lastTone++;
  await peer.waitFor(lastTone + 4, 5000);
  lastTone = firstTone;
  while (!isSilence(peer.received[lastTone + 1]!)) lastTone++;
  const checkJoin = (before: ReceivedRtp, after: ReceivedRtp, what: string): void => {
    assert.equal((after.seq - before.seq) & 0xffff, 1, `${what}: next sequence number`);
    assert.equal((after.ts - before.ts) >>> 0, 160, `${what}: the timestamp moves on by the 20 ms elapsed`);
    assert.equal(after.marker, true, `${what}: marker on the new talkspurt`);
    assert.equal(after.ssrc, before.ssrc, `${what}: same SSRC`);
  };
  checkJoin(peer.received[firstTone - 1]!, peer.received[firstTone]!, 'silence -> prompt');
  checkJoin(peer.received[lastTone]!, peer.received[lastTone + 1]!, 'prompt -> silence');
  // 200 ms of tone: ten frames, none in between was silence.
  assert.equal(lastTone - firstTone + 1, 10);
});

test('an idle Opus endpoint sends 20 ms Opus frames that an independent decoder (libopus) reads as silence', async (t) => {
  const s = await server(t);
  const { peer } = await openPeer(t);
  const ep = await s.createEndpoint({ remote_sdp: peer.offer(['opus']) });
  t.after(() => s.deleteEndpoint(ep.id).catch(() => {}));
  await peer.waitFor(5, 5000);
  const dec = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  t.after(() => dec.delete());
  for (const p of peer.received.slice(0, 5)) {
    assert.equal(p.pt, 111);
    const out = Buffer.from(dec.decode(p.payload));
    const pcm = new Int16Array(out.buffer, out.byteOffset, out.length >> 1);
    assert.equal(pcm.length, 960, '20 ms at 48 kHz');
    assert.ok(
      pcm.every((v) => Math.abs(v) < 8),
      'silence',
    );
  }
  for (let i = 1; i < 5; i++) assert.equal((peer.received[i]!.ts - peer.received[i - 1]!.ts) >>> 0, 960);
});

test('bridged, held and SILENCE_FILL=off endpoints send nothing while an idle one keeps sending', async (t) => {
  const s = await server(t);
  const off = await server(t, { SILENCE_FILL: 'off' });
  const idle = await openPeer(t);
  const a = await openPeer(t);
  const b = await openPeer(t);
  const held = await openPeer(t);
  const quiet = await openPeer(t);
  const epA = await s.createEndpoint({ remote_sdp: a.peer.offer(['pcmu']) });
  const epB = await s.createEndpoint({ remote_sdp: b.peer.offer(['pcmu']) });
  await s.createBridge({ endpoint_a: epA.id, endpoint_b: epB.id });
  // Whatever the legs sent before the bridge existed: only what follows counts.
  const fromA = a.peer.received.length;
  const fromB = b.peer.received.length;
  await s.createEndpoint({ remote_sdp: held.peer.offer(['pcmu'], { direction: 'sendonly' }) });
  await off.createEndpoint({ remote_sdp: quiet.peer.offer(['pcmu']) });
  const ep = await s.createEndpoint({ remote_sdp: idle.peer.offer(['pcmu']) });
  // 25 packets (0.5 s of media clock) to the idle endpoint's peer is the window.
  await idle.peer.waitFor(25, 5000);
  assert.equal(a.peer.received.length - fromA, 0, 'bridged leg A: nothing relayed, nothing filled');
  assert.equal(b.peer.received.length - fromB, 0, 'bridged leg B');
  assert.equal(held.peer.received.length, 0, 'on hold (we are recvonly)');
  assert.equal(quiet.peer.received.length, 0, 'SILENCE_FILL=off');
  await s.deleteEndpoint(ep.id);
});

test('RFC 4733 events to an idle endpoint go out alone; the silence resumes after them as a new talkspurt', async (t) => {
  const s = await server(t);
  const { peer } = await openPeer(t);
  const ep = await s.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  t.after(() => s.deleteEndpoint(ep.id).catch(() => {}));
  await peer.waitFor(5, 5000);
  await s.dtmf.send(ep.id, '12', { durationMs: 100 });
  const lastEvent = (): number => {
    for (let i = peer.received.length - 1; i >= 0; i--) if (peer.received[i]!.pt === 101) return i;
    return -1;
  };
  await peer.waitFor(lastEvent() + 3, 5000);
  const firstEvent = peer.received.findIndex((p) => p.pt === 101);
  const during = peer.received.slice(firstEvent, lastEvent() + 1);
  assert.ok(
    during.every((p) => p.pt === 101),
    'no silence between the first and the last event packet',
  );
  const all = peer.received;
  for (let i = 1; i < all.length; i++) assert.equal((all[i]!.seq - all[i - 1]!.seq) & 0xffff, 1, 'one sequence space');
  const resumed = all[lastEvent() + 1]!;
  assert.equal(resumed.pt, 0);
  assert.equal(resumed.marker, true, 'silence resumes as a new talkspurt');
});

test('SILENCE_FILL defaults to cn and refuses other values', () => {
  assert.equal(loadConfig({}).silenceFill, 'cn');
  assert.equal(loadConfig({ SILENCE_FILL: 'silence' }).silenceFill, 'silence');
  assert.throws(() => loadConfig({ SILENCE_FILL: 'noise' }), /SILENCE_FILL must be one of cn, silence, off/);
});
