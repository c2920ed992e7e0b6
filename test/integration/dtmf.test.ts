import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { DtmfService } from '../../src/control/services/DtmfService.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { readPcapFile } from '../helpers/pcap.ts';
import { run } from '../helpers/proc.ts';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/audio.ts';
import { soxTone } from '../media/dtmf/audioTools.ts';
import { needs } from '../helpers/peers.ts';

/**
 * DTMF through a real MediaServer with real peers: SIPp's RFC 4733 captures replayed into
 * endpoints, our RFC 4733 output parsed here independently, our in-band tones decoded by sox and
 * detected by GStreamer's spandsp dtmfdetect, sox-made tones sent into endpoints, and conversion
 * across a bridge between a leg with telephone-event and one without.
 */

const CAPTURES = '/usr/share/sip-tester';
const KEYS = '0123456789*#ABCD';
const ROW: Record<string, number> = {
  1: 697,
  2: 697,
  3: 697,
  A: 697,
  4: 770,
  5: 770,
  6: 770,
  B: 770,
  7: 852,
  8: 852,
  9: 852,
  C: 852,
  '*': 941,
  0: 941,
  '#': 941,
  D: 941,
};
const COL: Record<string, number> = {
  1: 1209,
  4: 1209,
  7: 1209,
  '*': 1209,
  2: 1336,
  5: 1336,
  8: 1336,
  0: 1336,
  3: 1477,
  6: 1477,
  9: 1477,
  '#': 1477,
  A: 1633,
  B: 1633,
  C: 1633,
  D: 1633,
};

let server: MediaServer;
let dtmf: DtmfService;
const dir = tempDir({ after }, 'dtmf-int-');
const events: ServerEvent[] = [];
const waiters: Array<() => void> = [];

before(async () => {
  server = await startServer();
  dtmf = server.dtmf;
  server.events.subscribe((e) => {
    if (e.type !== 'endpoint.dtmf') return;
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
});

after(async () => {
  await server.close();
});

/** The `endpoint.dtmf` events of one endpoint so far. */
function pressesOf(endpointId: string): ServerEvent[] {
  return events.filter((e) => e.endpoint_id === endpointId);
}

/** Resolves once `pred` holds for the events seen (re-checked on each new event). */
async function untilEvents(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    const left = deadline - performance.now();
    if (left <= 0)
      throw new Error(
        `timed out waiting for ${what}; events: ${JSON.stringify(events.map((e) => [e.endpoint_id, e.digit, e.source]))}`,
      );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Resolves once `pred` holds for what a peer received (checked as packets arrive, bounded). */
async function untilReceived(peer: RtpPeer, pred: () => boolean, what: string): Promise<void> {
  for (let n = peer.received.length + 1; !pred(); n = peer.received.length + 1) {
    await peer.waitFor(n, 5000).catch(() => {
      throw new Error(`timed out waiting for ${what} (${peer.received.length} packets)`);
    });
  }
}

function telephoneEventPt(sdp: string): number {
  const m = /a=rtpmap:(\d+) telephone-event\/8000/.exec(sdp);
  assert.ok(m, `no telephone-event in our answer:\n${sdp}`);
  return Number(m[1]);
}

async function openPeer(t: TestContext): Promise<RtpPeer> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  return peer;
}

/** An RFC 4733 press (RFC 4733 2.5.1) sent by hand: marker first, growing duration, end x3. */
function rfc4733Packets(
  digit: string,
  ts: number,
  ssrc: number,
  pt: number,
  durationMs: number,
): Array<{ bytes: Buffer; atMs: number }> {
  const code = KEYS.indexOf(digit);
  const out: Array<{ bytes: Buffer; atMs: number }> = [];
  const units = durationMs * 8;
  const packet = (duration: number, end: boolean, marker: boolean, atMs: number): void => {
    const b = Buffer.alloc(16);
    b[0] = 0x80;
    b[1] = (marker ? 0x80 : 0) | pt;
    b.writeUInt32BE(ts >>> 0, 4);
    b.writeUInt32BE(ssrc >>> 0, 8);
    b[12] = code;
    b[13] = (end ? 0x80 : 0) | 10;
    b.writeUInt16BE(duration, 14);
    out.push({ bytes: b, atMs });
  };
  let i = 0;
  for (let d = 160; d < units; d += 160, i++) packet(d, false, i === 0, i * 20);
  for (let k = 0; k < 3; k++) packet(units, true, i === 0 && k === 0, i * 20);
  return out;
}

/** Sends datagrams at their `atMs` offsets (pacing a sender, as a phone would), seq numbers from `peer`. */
async function paced(peer: RtpPeer, port: number, packets: Array<{ bytes: Buffer; atMs: number }>): Promise<void> {
  const sorted = [...packets].sort((a, b) => a.atMs - b.atMs);
  const start = performance.now();
  for (const p of sorted) {
    const wait = p.atMs - (performance.now() - start);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    p.bytes.writeUInt16BE(peer.seq, 2);
    peer.seq = (peer.seq + 1) & 0xffff;
    peer.sendRaw(port, p.bytes);
  }
}

/** μ-law (G.711) bytes of sox-made DTMF tones: -10 dBm0 per tone, `toneMs` each, silence between. */
async function soxUlawDigits(name: string, digits: string, toneMs: number): Promise<Buffer> {
  const parts: Int16Array[] = [];
  for (const [i, d] of [...digits].entries()) {
    parts.push(
      await soxTone(dir, `${name}-${i}`, {
        lowHz: ROW[d]!,
        highHz: COL[d]!,
        lowDbm0: -10,
        highDbm0: -10,
        durationMs: toneMs,
        leadMs: 40,
        trailMs: 100,
      }),
    );
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const pcm = Buffer.alloc(total * 2);
  let off = 0;
  for (const p of parts) for (const s of p) off = pcm.writeInt16LE(s, off);
  const raw = join(dir, `${name}.raw`);
  const ulaw = join(dir, `${name}.ul`);
  writeFileSync(raw, pcm);
  const r = await run('sox', [
    '-t',
    'raw',
    '-r',
    '8000',
    '-e',
    'signed-integer',
    '-b',
    '16',
    '-c',
    '1',
    raw,
    '-t',
    'raw',
    '-e',
    'u-law',
    '-b',
    '8',
    ulaw,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const bytes = readFileSync(ulaw);
  // Whole 20 ms frames, padded with μ-law silence (0xff).
  const frames = Math.ceil(bytes.length / 160);
  const out = Buffer.alloc(frames * 160, 0xff);
  bytes.copy(out);
  return out;
}

/** PCMU frames at 20 ms spacing starting at `atMs`, timestamps following the peer's. */
function pcmuPackets(peer: RtpPeer, ulaw: Buffer, atMs = 0): Array<{ bytes: Buffer; atMs: number }> {
  const out: Array<{ bytes: Buffer; atMs: number }> = [];
  for (let i = 0; i * 160 < ulaw.length; i++) {
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt32BE(peer.ts >>> 0, 4);
    b.writeUInt32BE(peer.ssrc, 8);
    ulaw.copy(b, 12, i * 160, i * 160 + 160);
    peer.ts = (peer.ts + 160) >>> 0;
    out.push({ bytes: b, atMs: atMs + i * 20 });
  }
  return out;
}

/** Digits GStreamer's spandsp dtmfdetect finds in received PCMU payloads (decoded by sox, not by us). */
async function gstDigitsOfPcmu(name: string, packets: ReceivedRtp[]): Promise<string> {
  const audio = packets.filter((p) => p.pt === 0).sort((a, b) => seqOrder(a.seq, b.seq));
  const ul = join(dir, `${name}.ul`);
  const wav = join(dir, `${name}.wav`);
  writeFileSync(ul, Buffer.concat([...audio.map((p) => p.payload), Buffer.alloc(1600, 0xff)]));
  const s = await run('sox', [
    '-t',
    'raw',
    '-r',
    '8000',
    '-e',
    'u-law',
    '-b',
    '8',
    '-c',
    '1',
    ul,
    '-e',
    'signed-integer',
    '-b',
    '16',
    wav,
  ]).done;
  assert.equal(s.code, 0, s.stderr);
  const g = await run('gst-launch-1.0', [
    '-m',
    'filesrc',
    `location=${wav}`,
    '!',
    'wavparse',
    '!',
    'audioconvert',
    '!',
    'audioresample',
    '!',
    'audio/x-raw,rate=8000,format=S16LE,channels=1',
    '!',
    'dtmfdetect',
    '!',
    'fakesink',
  ]).done;
  assert.equal(g.code, 0, g.stderr);
  // "dtmf-event, type=(int)1, number=(int)11, method=(int)2": number is the RFC 4733 event code.
  return [...g.stdout.matchAll(/dtmf-event, type=\(int\)1, number=\(int\)(\d+)/g)]
    .map((m) => KEYS[Number(m[1])] ?? '?')
    .join('');
}

function seqOrder(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

test(
  'every SIPp dtmf_2833 capture replayed into an endpoint gives exactly one endpoint.dtmf with its digit',
  needs('sipp-captures'),
  async (t) => {
    const files = readdirSync(CAPTURES)
      .filter((f) => /^dtmf_2833_.*\.pcap$/.test(f))
      .sort();
    assert.equal(files.length, 12);
    await Promise.all(
      files.map(async (file) => {
        const key = file.slice('dtmf_2833_'.length, -'.pcap'.length);
        const digit = key === 'star' ? '*' : key === 'pound' ? '#' : key;
        const peer = await openPeer(t);
        const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
        const pt = telephoneEventPt(ep.sdp);
        const capture = readPcapFile(join(CAPTURES, file)).datagrams.filter((d) => d.payload.length >= 16);
        // The capture's telephone-event PT (101) rewritten to the one we negotiated.
        const packets = capture.map((d) => {
          const bytes = Buffer.from(d.payload);
          bytes[1] = (bytes[1]! & 0x80) | pt;
          return { bytes, atMs: d.timeMs };
        });
        const start = performance.now();
        for (const p of packets) {
          const wait = p.atMs - (performance.now() - start);
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          peer.sendRaw(ep.rtp_port, p.bytes);
        }
        // A sentinel press (D) with a newer timestamp: once it is reported, every event of the
        // capture has been (events of one endpoint arrive in order).
        const first = capture[0]!.payload;
        const sentinel = rfc4733Packets('D', first.readUInt32BE(4) + 8000, first.readUInt32BE(8), pt, 60);
        for (const p of sentinel) p.bytes.writeUInt16BE(first.readUInt16BE(2) + 100, 2);
        for (const p of sentinel) peer.sendRaw(ep.rtp_port, p.bytes);
        await untilEvents(() => pressesOf(ep.id).some((e) => e.digit === 'D'), `sentinel on ${file}`);
        const got = pressesOf(ep.id);
        assert.deepEqual(
          got.map((e) => [e.digit, e.source]),
          [
            [digit, 'rfc4733'],
            ['D', 'rfc4733'],
          ],
          file,
        );
        // The reported duration is the end packets' duration field at 8 kHz.
        assert.equal(got[0]!.duration_ms, Math.round(capture.at(-1)!.payload.readUInt16BE(14) / 8), file);
      }),
    );
  },
);

test('RFC 4733 sent by the server: constant timestamp per event, growing duration, three end packets', async (t) => {
  const peer = await openPeer(t);
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  const pt = telephoneEventPt(ep.sdp);
  const result = await dtmf.send(ep.id, '1#9', { durationMs: 120 });
  assert.deepEqual(result, { digits: '1#9', method: 'rfc4733' });
  const ends = (): ReceivedRtp[] => peer.received.filter((p) => p.pt === pt && (p.payload[1]! & 0x80) !== 0);
  await untilReceived(peer, () => ends().length >= 9, 'nine end packets');

  const packets = peer.received.filter((p) => p.pt === pt).sort((a, b) => seqOrder(a.seq, b.seq));
  // Our independent parse of RFC 4733 2.3: event, E bit, volume, duration.
  const parsed = packets.map((p) => ({
    ts: p.ts,
    seq: p.seq,
    marker: p.marker,
    ssrc: p.ssrc,
    event: p.payload[0]!,
    end: (p.payload[1]! & 0x80) !== 0,
    duration: p.payload.readUInt16BE(2),
  }));
  for (let i = 1; i < parsed.length; i++)
    assert.equal(seqOrder(parsed[i]!.seq, parsed[i - 1]!.seq), 1, 'consecutive sequence numbers');
  assert.equal(new Set(parsed.map((p) => p.ssrc)).size, 1);
  const byTs = new Map<number, typeof parsed>();
  for (const p of parsed) byTs.set(p.ts, [...(byTs.get(p.ts) ?? []), p]);
  const presses = [...byTs.values()];
  assert.deepEqual(
    presses.map((g) => KEYS[g[0]!.event]),
    ['1', '#', '9'],
    'one timestamp per event',
  );
  let lastTs = -1;
  for (const g of presses) {
    if (lastTs >= 0) assert.ok(((g[0]!.ts - lastTs) | 0) > 0, 'each event starts later');
    lastTs = g[0]!.ts;
    assert.ok(g[0]!.marker, 'marker on the first packet');
    assert.ok(
      g.slice(1).every((p) => !p.marker),
      'no marker after the first packet',
    );
    assert.ok(g.every((p) => p.event === g[0]!.event));
    for (let i = 1; i < g.length; i++) assert.ok(g[i]!.duration >= g[i - 1]!.duration, 'duration never shrinks');
    assert.ok(g[0]!.duration < g.at(-1)!.duration, 'duration grows');
    const endPackets = g.filter((p) => p.end);
    assert.equal(endPackets.length, 3, 'end packet sent three times');
    assert.deepEqual(g.slice(-3), endPackets, 'end packets come last');
    assert.ok(
      endPackets.every((p) => p.duration === 960),
      '120 ms at 8 kHz',
    );
  }
});

test(
  'in-band DTMF sent to an endpoint without telephone-event is detected by spandsp dtmfdetect',
  needs('sox', 'gst-launch-1.0', 'gst-spandsp'),
  async (t) => {
    const peer = await openPeer(t);
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu'], { telephoneEvent: false }) });
    const result = await dtmf.send(ep.id, '159#', { durationMs: 80 });
    assert.deepEqual(result, { digits: '159#', method: 'inband' });
    // 4 x (80 ms tone + 80 ms pause) = 32 frames: sent once send() resolved.
    await peer.waitFor(32);
    assert.ok(
      peer.received.every((p) => p.pt === 0),
      'PCMU only, no telephone-event',
    );
    assert.equal(await gstDigitsOfPcmu('inband-out', peer.received), '159#');
  },
);

test(
  'sox-made tones sent into an endpoint as PCMU (the client opted in to in-band DTMF) give endpoint.dtmf with source inband',
  needs('sox'),
  async (t) => {
    const peer = await openPeer(t);
    // DTMF_INBAND=auto listens only for consumers: this test reads the event stream, as a B2BUA does.
    const ep = await server.createEndpoint({
      remote_sdp: peer.offer(['pcmu'], { telephoneEvent: false }),
      dtmf: { inband: true },
    });
    const ulaw = await soxUlawDigits('into', '4*9D', 80);
    await paced(peer, ep.rtp_port, pcmuPackets(peer, ulaw));
    await untilEvents(() => pressesOf(ep.id).length >= 4, 'four in-band presses');
    const got = pressesOf(ep.id);
    assert.deepEqual(
      got.map((e) => [e.digit, e.source]),
      [
        ['4', 'inband'],
        ['*', 'inband'],
        ['9', 'inband'],
        ['D', 'inband'],
      ],
    );
    for (const e of got)
      assert.ok(Math.abs(Number(e.duration_ms) - 80) <= 20, `duration ${String(e.duration_ms)} ms for an 80 ms tone`);
  },
);

test(
  'the same press as RFC 4733 and in-band tones gives one event; in-band detection can be turned off',
  needs('sox'),
  async (t) => {
    const peer = await openPeer(t);
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
    const pt = telephoneEventPt(ep.sdp);
    // With telephone-event negotiated, in-band detection is off by default (DTMF_INBAND=auto).
    assert.deepEqual(await dtmf.configure(ep.id, {}), { inband: false, telephoneEvent: true });
    assert.deepEqual(await dtmf.configure(ep.id, { inband: true }), { inband: true, telephoneEvent: true });
    const before = (await server.workerMetrics())[0]!.engines!.dtmf!.suppressed!;
    // Digit 6 as 100 ms of tone in the audio (from 40 ms on) and as events over the same time.
    const ulaw = await soxUlawDigits('both', '6', 100);
    const audio = pcmuPackets(peer, ulaw);
    const events6 = rfc4733Packets('6', peer.ts + 320, peer.ssrc, pt, 100).map((p) => ({ ...p, atMs: p.atMs + 40 }));
    const sentinel = rfc4733Packets('0', peer.ts + 16000, peer.ssrc, pt, 60).map((p) => ({
      ...p,
      atMs: p.atMs + audio.length * 20 + 20,
    }));
    await paced(peer, ep.rtp_port, [...audio, ...events6, ...sentinel]);
    await untilEvents(() => pressesOf(ep.id).some((e) => e.digit === '0'), 'sentinel');
    assert.deepEqual(
      pressesOf(ep.id).map((e) => e.digit),
      ['6', '0'],
      'one event for the press carried both ways',
    );
    // The in-band copy is detected after the jitter buffer, a little after the events: wait for it.
    let suppressed = before;
    for (let i = 0; i < 40 && suppressed === before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      suppressed = (await server.workerMetrics())[0]!.engines!.dtmf!.suppressed!;
    }
    assert.equal(suppressed - before, 1, 'the duplicate was counted as suppressed');
    assert.deepEqual(
      pressesOf(ep.id).map((e) => e.digit),
      ['6', '0'],
      'and not reported',
    );

    // With in-band detection off, tones alone report nothing: only the next sentinel arrives.
    assert.deepEqual(await dtmf.configure(ep.id, { inband: false }), { inband: false, telephoneEvent: true });
    const tones = pcmuPackets(peer, await soxUlawDigits('off', '3', 100));
    const sentinel2 = rfc4733Packets('A', peer.ts + 16000, peer.ssrc, pt, 60).map((p) => ({
      ...p,
      atMs: p.atMs + tones.length * 20 + 20,
    }));
    await paced(peer, ep.rtp_port, [...tones, ...sentinel2]);
    await untilEvents(() => pressesOf(ep.id).some((e) => e.digit === 'A'), 'second sentinel');
    assert.deepEqual(
      pressesOf(ep.id).map((e) => e.digit),
      ['6', '0', 'A'],
    );
  },
);

test(
  'a bridge converts RFC 4733 to in-band tones and in-band tones to RFC 4733 when one leg lacks telephone-event',
  needs('sox', 'gst-launch-1.0', 'gst-spandsp'),
  async (t) => {
    const peerA = await openPeer(t);
    const peerB = await openPeer(t);
    const a = await server.createEndpoint({ remote_sdp: peerA.offer(['pcmu']) });
    const b = await server.createEndpoint({ remote_sdp: peerB.offer(['pcmu'], { telephoneEvent: false }) });
    const ptA = telephoneEventPt(a.sdp);
    const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
    t.after(() => server.deleteBridge(bridge.id).catch(() => {}));

    // A's phone presses 7 as RFC 4733: B's phone hears the tones.
    await paced(peerA, a.rtp_port, rfc4733Packets('7', peerA.ts, peerA.ssrc, ptA, 120));
    await untilEvents(() => pressesOf(a.id).length >= 1, 'the press on A');
    // 120 ms tone + 80 ms pause = 10 frames of generated audio on B.
    await peerB.waitFor(10);
    assert.equal(await gstDigitsOfPcmu('bridge-b', peerB.received), '7');

    // B's phone sends tones for 3: A's phone gets RFC 4733 events for 3.
    await paced(peerB, b.rtp_port, pcmuPackets(peerB, await soxUlawDigits('bridge-in', '3', 100)));
    const eventsOnA = (): ReceivedRtp[] => peerA.received.filter((p) => p.pt === ptA);
    await untilReceived(
      peerA,
      () => eventsOnA().filter((p) => (p.payload[1]! & 0x80) !== 0).length >= 3,
      'end packets on A',
    );
    assert.deepEqual([...new Set(eventsOnA().map((p) => KEYS[p.payload[0]!]))], ['3']);
    assert.deepEqual(
      pressesOf(a.id).map((e) => [e.digit, e.source]),
      [['7', 'rfc4733']],
    );
    assert.deepEqual(
      pressesOf(b.id).map((e) => [e.digit, e.source]),
      [['3', 'inband']],
    );
  },
);
