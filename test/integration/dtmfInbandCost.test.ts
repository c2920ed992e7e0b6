import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { DtmfGenerator } from '../../src/media/dtmf/DtmfGenerator.ts';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { readWav } from '../helpers/audio.ts';

/**
 * Where in-band DTMF listens on a plain call (DTMF_INBAND=plain here: every leg without
 * telephone-event; with the default 'auto' only while something consumes the digits, see
 * dtmfInbandDemand.test.ts), it pays only where audio could hold a digit: silence costs a sum of
 * squares per window, speech stops at the DFTs' tone-share bound, and the full measurement runs
 * only for tone-like windows. Counted by the DTMF engine's metrics.
 */

interface Work {
  windows: number;
  analysed: number;
  measured: number;
}

async function work(server: MediaServer): Promise<Work> {
  const w: Work = { windows: 0, analysed: 0, measured: 0 };
  for (const m of await server.workerMetrics()) {
    const d = m.engines?.dtmf ?? {};
    w.windows += d.inbandWindows ?? 0;
    w.analysed += d.inbandAnalysed ?? 0;
    w.measured += d.inbandMeasured ?? 0;
  }
  return w;
}

async function plainCall(
  t: TestContext,
  server: MediaServer,
): Promise<{ a: RtpPeer; b: RtpPeer; portA: number; portB: number; idA: string }> {
  const a = await RtpPeer.open();
  const b = await RtpPeer.open();
  t.after(() => {
    a.close();
    b.close();
  });
  const epA = await server.createEndpoint({ remote_sdp: a.offer(['pcmu'], { telephoneEvent: false }) });
  const epB = await server.createEndpoint({ remote_sdp: b.offer(['pcmu'], { telephoneEvent: false }) });
  await server.createBridge({ endpoint_a: epA.id, endpoint_b: epB.id });
  return { a, b, portA: epA.rtp_port, portB: epB.rtp_port, idA: epA.id };
}

/** Sends μ-law `audio` from `peer` to `port` as 20 ms PCMU packets, paced by the peer's own schedule. */
async function sendUlaw(peer: RtpPeer, port: number, audio: Uint8Array): Promise<number> {
  const start = performance.now();
  let n = 0;
  for (let i = 0; i + 160 <= audio.length; i += 160, n++) {
    const wait = n * 20 - (performance.now() - start);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b.writeUInt16BE(peer.seq, 2);
    b.writeUInt32BE(peer.ts >>> 0, 4);
    b.writeUInt32BE(peer.ssrc, 8);
    b.set(audio.subarray(i, i + 160), 12);
    peer.seq = (peer.seq + 1) & 0xffff;
    peer.ts = (peer.ts + 160) >>> 0;
    peer.sendRaw(port, b);
  }
  return n;
}

function ulaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToUlaw(pcm[i]!);
  return out;
}

test('DTMF_INBAND=plain: a plain bridged call listens for in-band DTMF but runs no DFT on silence and no measurement on speech; a press is still reported', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'plain' });
  t.after(() => server.close());
  const { a, b, portA, idA } = await plainCall(t, server);
  const before = await work(server);

  // 1 s of silence (μ-law 0xff) and of quiet line noise (|x| <= 24): relayed, seen, not analysed.
  const quiet = new Uint8Array(8000 * 2).fill(0xff);
  for (let i = 8000; i < quiet.length; i++) quiet[i] = linearToUlaw(((i * 7919) % 49) - 24);
  const sent = await sendUlaw(a, portA, quiet);
  await b.waitFor(sent - 2); // relayed to the other leg (the detector sat beside the relay)
  const silent = await work(server);
  assert.ok(
    silent.windows - before.windows >= (0.9 * (sent * 160)) / 51 - 4,
    `windows seen: ${silent.windows - before.windows} for ${sent} packets`,
  );
  assert.equal(silent.analysed - before.analysed, 0, 'no DFT ran on silence or quiet noise');

  // Speech (an Asterisk prompt): the DFTs run, the tone-share bound stops nearly every window.
  const speech = ulaw(readWav('/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav').samples);
  await sendUlaw(a, portA, speech);
  const spoken = await work(server);
  const windows = spoken.windows - silent.windows;
  assert.ok(spoken.analysed - silent.analysed > windows / 4, 'speech is loud enough to be analysed');
  assert.ok(
    spoken.measured - silent.measured <= windows / 50,
    `measured ${spoken.measured - silent.measured} of ${windows} speech windows`,
  );

  // A press (80 ms of digit 7 at -10 dBm0 per tone) is still reported as endpoint.dtmf.
  const press = nextEvent(server, 'endpoint.dtmf', (e) => e.endpoint_id === idA);
  const tone = DtmfGenerator.toneFor('7', { durationMs: 80, pauseMs: 100, levelDbm0: -10 });
  await sendUlaw(a, portA, ulaw(tone));
  const e = await press;
  assert.equal(e.digit, '7');
  assert.equal(e.source, 'inband');
  const pressed = await work(server);
  assert.ok(pressed.measured > spoken.measured, 'the tone windows were measured');
});

test('DTMF_INBAND=off: a plain bridged call sees no in-band window at all', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'off' });
  t.after(() => server.close());
  const { a, b, portA } = await plainCall(t, server);
  const sent = await sendUlaw(a, portA, new Uint8Array(160 * 20).fill(0xff));
  await b.waitFor(sent - 2);
  assert.deepEqual(await work(server), { windows: 0, analysed: 0, measured: 0 });
});
