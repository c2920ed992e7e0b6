import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { PlaybackService } from '../../src/control/services/PlaybackService.ts';
import { freeUdpPortPair, run, waitUntilBound } from '../helpers/proc.ts';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';
import { rms } from '../helpers/audio.ts';

/**
 * Playback over real RTP: an RtpPeer or an ffmpeg receiver is the far end, and what it got is
 * decoded by ffmpeg (never by our codecs) and compared with the prompt decoded by sox, measured
 * for pitch, or run through GStreamer's spandsp DTMF detector.
 */

let dir: string;
let server: MediaServer;
let playback: PlaybackService;

/** Decodes G.711 payload bytes to PCM16 with ffmpeg. */
async function decodeMulaw(name: string, payloads: readonly Buffer[]): Promise<Int16Array> {
  const file = path.join(dir, `${name}.ulaw`);
  writeFileSync(file, Buffer.concat(payloads));
  return ffmpegToPcm(['-f', 'mulaw', '-ar', '8000', '-ac', '1', '-i', file], 8000, `${name}.s16`);
}

async function ffmpegToPcm(input: string[], rate: number, outName: string): Promise<Int16Array> {
  const out = path.join(dir, outName);
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    ...input,
    '-ac',
    '1',
    '-ar',
    String(rate),
    '-f',
    's16le',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1);
}

/** The prompt as sox decodes it, 8 kHz PCM16. */
async function soxPrompt(name: string): Promise<Int16Array> {
  const out = path.join(dir, `${name}.ref.s16`);
  const r = await run('sox', [
    `prompts/${name}.wav`,
    '-t',
    'raw',
    '-e',
    'signed-integer',
    '-b',
    '16',
    '-r',
    '8000',
    '-c',
    '1',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1);
}

/** Best normalised cross-correlation of `x` against `ref` over lags -maxLag..maxLag. */
function bestCorrelation(ref: Int16Array, x: Int16Array, maxLag: number): { lag: number; r: number } {
  let best = { lag: 0, r: -1 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sxy = 0,
      sxx = 0,
      syy = 0;
    for (let i = Math.max(0, -lag); i < x.length && i + lag < ref.length; i++) {
      const a = ref[i + lag]!,
        b = x[i]!;
      sxy += a * b;
      sxx += a * a;
      syy += b * b;
    }
    const r = sxy / Math.sqrt(sxx * syy || 1);
    if (r > best.r) best = { lag, r };
  }
  return best;
}

/** Frequency of a clean tone from its zero crossings (interpolated), over samples [from, to). */
function toneFrequency(pcm: Int16Array, rate: number, from: number, to: number): number {
  let first = -1,
    last = -1,
    crossings = 0;
  for (let i = from + 1; i < to; i++) {
    const a = pcm[i - 1]!,
      b = pcm[i]!;
    if (a < 0 && b >= 0) {
      const t = i - 1 + a / (a - b);
      if (first < 0) first = t;
      else crossings++;
      last = t;
    }
  }
  return (crossings * rate) / (last - first);
}

/**
 * One SSRC and sequence numbers +1 over all of `packets`; timestamps +160 (20 ms at 8 kHz) within
 * a talkspurt, and moving forward (by the time elapsed, RFC 3550 5.1) where the marker flags a
 * source switch. Returns the SSRC.
 */
function assertContinuous(packets: readonly ReceivedRtp[]): number {
  const ssrc = packets[0]!.ssrc;
  for (let i = 1; i < packets.length; i++) {
    const p = packets[i]!,
      q = packets[i - 1]!;
    assert.equal(p.ssrc, ssrc, `packet ${i}: SSRC changed`);
    assert.equal(p.seq, (q.seq + 1) & 0xffff, `packet ${i}: sequence ${q.seq} → ${p.seq}`);
    const dts = (p.ts - q.ts) >>> 0;
    if (p.marker) assert.ok(dts >= 160 && dts < 0x80000000, `packet ${i}: timestamp ${q.ts} → ${p.ts} at a switch`);
    else assert.equal(dts, 160, `packet ${i}: timestamp ${q.ts} → ${p.ts}`);
  }
  return ssrc;
}

async function openPeer(
  t: { after(fn: () => unknown): void },
  codecs: Array<'pcmu' | 'g722' | 'opus'> = ['pcmu'],
  telephoneEvent = true,
): Promise<{ peer: RtpPeer; id: string; port: number }> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(codecs, { telephoneEvent }) });
  t.after(() => server.deleteEndpoint(ep.id).catch(() => undefined));
  return { peer, id: ep.id, port: ep.rtp_port };
}

/** An SDP describing an ffmpeg receiver on `port` for one codec. */
function receiverSdp(port: number, pt: number, rtpmap: string, direction = 'recvonly'): string {
  return [
    'v=0',
    'o=ffmpeg 1 1 IN IP4 127.0.0.1',
    's=peer',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP ${pt}`,
    `a=rtpmap:${pt} ${rtpmap}`,
    `a=rtcp:${port + 1}`,
    'a=ptime:20',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** Plays a 1 kHz tone to an endpoint that negotiated `rtpmap`, received and decoded by ffmpeg at `rate`. */
async function toneThroughFfmpeg(
  t: { after(fn: () => unknown): void },
  name: string,
  pt: number,
  rtpmap: string,
  rate: number,
): Promise<{ pcm: Int16Array; codec: string | undefined }> {
  const port = await freeUdpPortPair();
  const ep = await server.createEndpoint({ remote_sdp: receiverSdp(port, pt, rtpmap) });
  t.after(() => server.deleteEndpoint(ep.id).catch(() => undefined));
  const sdpFile = path.join(dir, `${name}.sdp`);
  writeFileSync(sdpFile, receiverSdp(port, pt, rtpmap, 'sendonly'));
  const out = path.join(dir, `${name}.s16`);
  const receiver = run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-protocol_whitelist',
      'file,udp,rtp',
      '-i',
      sdpFile,
      '-t',
      '1.2',
      '-ac',
      '1',
      '-ar',
      String(rate),
      '-f',
      's16le',
      out,
    ],
    20_000,
  );
  t.after(() => receiver.child.kill('SIGKILL'));
  await waitUntilBound(port);
  const result = await playback.play(ep.id, ['tone:1000:1800']);
  assert.equal(result.reason, 'done');
  const r = await receiver.done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return {
    pcm: new Int16Array(b.buffer, b.byteOffset, b.length >> 1),
    codec: (await server.getEndpoint(ep.id)).codec?.name,
  };
}

describe('playback over RTP', { concurrency: true }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'playback-rtp-'));
    server = await startServer();
    playback = server.playback;
  });

  after(async () => {
    playback.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test(
    'prompt:goodbye reaches the peer as 20 ms PCMU frames of one continuous stream that correlates with the prompt decoded by sox',
    needs('sox', 'ffmpeg'),
    async (t) => {
      const { peer, id } = await openPeer(t);
      let startedAt = 0;
      const started = nextEvent(server, 'playback.started', (e) => e.endpoint_id === id).then((e) => {
        startedAt = performance.now();
        return e;
      });
      const t0 = performance.now();
      const result = await playback.play(id, ['prompt:goodbye']);
      const end = performance.now();
      const elapsed = end - t0;
      assert.deepEqual(result, { reason: 'done' });
      assert.equal((await started).endpoint_id, id);
      const ref = await soxPrompt('goodbye');
      const frames = Math.ceil(ref.length / 160);
      await peer.waitFor(frames);
      // Real time: 2.5 s of audio takes 2.5 s (the media clock paces it, never faster). Slower only
      // as far as the clock ran late: on a loaded machine the prompt's first load and late ticks
      // stretch it, so the upper bound is on the playing time alone, and generous.
      const audioMs = frames * 20;
      assert.ok(elapsed > audioMs - 200, `played ${audioMs} ms of audio in ${elapsed.toFixed(0)} ms`);
      assert.ok(
        end - startedAt < 3 * audioMs,
        `played ${audioMs} ms of audio in ${(end - startedAt).toFixed(0)} ms after it started`,
      );
      const packets = peer.received;
      assert.equal(packets.length, frames, 'one packet per 20 ms frame, the last one padded, nothing after');
      for (const p of packets) {
        assert.equal(p.pt, 0);
        assert.equal(p.payload.length, 160, '20 ms of PCMU');
      }
      assertContinuous(packets);
      assert.equal(packets[0]!.marker, true, 'marker on the first packet of the talkspurt');
      assert.ok(
        packets.slice(1).every((p) => !p.marker),
        'no marker after the first packet',
      );
      for (let i = 1; i < packets.length; i++) assert.equal((packets[i]!.ts - packets[i - 1]!.ts) >>> 0, 160);

      const got = await decodeMulaw(
        'goodbye',
        packets.map((p) => p.payload),
      );
      const { lag, r } = bestCorrelation(ref, got, 80);
      assert.equal(lag, 0, 'the prompt starts with the first packet');
      assert.ok(r > 0.995, `correlation with the prompt ${r.toFixed(4)}`);
      // The padding of the last frame is silence (μ-law 0xFF decodes to 0).
      assert.ok(rms(got, ref.length) < 10, 'padding after the prompt is silence');
    },
  );

  test('a playback interrupting a bridge relay keeps one stream (SSRC, sequence, marker at each switch) and the relay resumes after it', async (t) => {
    const { peer: peerA, id: a, port: portA } = await openPeer(t);
    const { peer: peerB, id: b } = await openPeer(t);
    await server.createBridge({ endpoint_a: a, endpoint_b: b });
    const relayed = Buffer.alloc(160, 0x2a);
    // peer A talks continuously (a real media source paced at 20 ms; nothing waits on the timer)
    const talk = setInterval(() => peerA.send(portA, relayed, 0), 20);
    t.after(() => clearInterval(talk));
    await peerB.waitFor(10);
    const result = await playback.play(b, ['tone:1000:300']);
    assert.equal(result.reason, 'done');
    const count = peerB.received.length;
    await peerB.waitFor(count + 10);
    clearInterval(talk);

    const packets = peerB.received.slice(0, count + 10);
    assertContinuous(packets);
    const kinds = packets.map((p) => (p.payload.equals(relayed) ? 'relay' : 'play'));
    const runs: Array<{ kind: string; start: number; length: number }> = [];
    kinds.forEach((k, i) => {
      const last = runs.at(-1);
      if (last && last.kind === k) last.length++;
      else runs.push({ kind: k, start: i, length: 1 });
    });
    assert.deepEqual(
      runs.map((r) => r.kind),
      ['relay', 'play', 'relay'],
      'relay, then the playback, then the relay again',
    );
    assert.equal(runs[1]!.length, 15, '300 ms of tone is 15 frames');
    assert.equal(packets[runs[1]!.start]!.marker, true, 'marker where the playback starts');
    assert.equal(packets[runs[2]!.start]!.marker, true, 'marker where the relay resumes');
    const markers = packets.map((p, i) => (p.marker ? i : -1)).filter((i) => i > 0);
    assert.deepEqual(markers, [runs[1]!.start, runs[2]!.start], 'markers only at the switches');
  });

  test(
    'tone:440 is received at 440 Hz and -13 dBFS (measured on what ffmpeg decodes from the PCMU stream)',
    needs('ffmpeg'),
    async (t) => {
      const { peer, id } = await openPeer(t);
      assert.equal((await playback.play(id, ['tone:440:1000'])).reason, 'done');
      await peer.waitFor(50);
      const pcm = await decodeMulaw(
        'tone440',
        peer.received.map((p) => p.payload),
      );
      const f = toneFrequency(pcm, 8000, 400, 7600);
      assert.ok(Math.abs(f - 440) < 0.5, `measured ${f.toFixed(2)} Hz`);
      const level = 20 * Math.log10((rms(pcm, 400, 7600) * Math.SQRT2) / 32767);
      assert.ok(Math.abs(level - -13) < 0.5, `level ${level.toFixed(2)} dBFS`);
    },
  );

  test('tts:hello produces speech on the endpoint (say() resolves done)', needs('ffmpeg'), async (t) => {
    const { peer, id } = await openPeer(t);
    const result = await playback.say(id, 'hello');
    assert.equal(result.reason, 'done');
    await peer.waitFor(15);
    const pcm = await decodeMulaw(
      'tts',
      peer.received.map((p) => p.payload),
    );
    assert.ok(pcm.length >= 8000 * 0.3, `${pcm.length} samples of speech`);
    assert.ok(rms(pcm) > 500, `speech level ${rms(pcm).toFixed(0)} RMS is not silence`);
  });

  test(
    "digits: in DTMF mode to a peer without telephone-event are in-band tones that GStreamer's spandsp dtmfdetect decodes",
    needs('ffmpeg', 'sox', 'gst-launch-1.0', 'gst-spandsp'),
    async (t) => {
      const { peer, id } = await openPeer(t, ['pcmu'], false);
      const record = await playback.start({
        endpointId: id,
        media: ['silence:100', 'digits:159#', 'silence:100'],
        digitsMode: 'dtmf',
        digitDurationMs: 80,
      });
      const done = await playback.finished(record.id);
      assert.equal(done.reason, 'done');
      const frames = Math.ceil((100 + 4 * (80 + 80) + 100) / 20);
      await peer.waitFor(frames);
      const pcm = await decodeMulaw(
        'digits',
        peer.received.map((p) => p.payload),
      );
      const wav = path.join(dir, 'digits.wav');
      const conv = await run('sox', [
        '-t',
        'raw',
        '-e',
        'signed-integer',
        '-b',
        '16',
        '-r',
        '8000',
        '-c',
        '1',
        path.join(dir, 'digits.s16'),
        wav,
      ]).done;
      assert.equal(conv.code, 0, conv.stderr);
      assert.ok(pcm.length >= frames * 160);
      const gst = await run('gst-launch-1.0', [
        '-m',
        'filesrc',
        `location=${wav}`,
        '!',
        'wavparse',
        '!',
        'audioconvert',
        '!',
        'audio/x-raw,rate=8000,format=S16LE,channels=1',
        '!',
        'dtmfdetect',
        '!',
        'fakesink',
      ]).done;
      const codes = [...gst.stdout.matchAll(/dtmf-event, type=\(int\)1, number=\(int\)(\d+)/g)].map((m) =>
        Number(m[1]),
      );
      assert.equal(codes.map((c) => '0123456789*#ABCD'[c]).join(''), '159#');
    },
  );

  test('digits: in DTMF mode to a peer with telephone-event are sent as RFC 4733 events', async (t) => {
    const { peer, id } = await openPeer(t);
    const record = await playback.start({
      endpointId: id,
      media: ['silence:60', 'digits:42', 'silence:60'],
      digitsMode: 'dtmf',
      digitDurationMs: 80,
    });
    const done = await playback.finished(record.id);
    assert.equal(done.reason, 'done');
    // Independent parse of the telephone-event packets (RFC 4733 2.3): one event per digit,
    // end packets included, in order.
    const events = peer.received.filter((p) => p.pt === 101 && p.payload.length >= 4);
    const ends = new Map<number, number>();
    for (const e of events) if (e.payload[1]! & 0x80) ends.set(e.ts, e.payload[0]!);
    assert.deepEqual([...ends.values()].map((c) => '0123456789*#ABCD'[c]).join(''), '42');
  });

  test('stop, a replacing playback and closing the endpoint finish a playback with reason stopped', async (t) => {
    const { id } = await openPeer(t);
    const ac = new AbortController();
    const aborted = playback.play(id, ['prompt:hold-music'], { signal: ac.signal });
    const finished = nextEvent(server, 'playback.finished', (e) => e.endpoint_id === id);
    await nextEvent(server, 'playback.started', (e) => e.endpoint_id === id);
    ac.abort();
    assert.deepEqual(await aborted, { reason: 'stopped' });
    assert.equal((await finished).reason, 'stopped');

    const first = playback.play(id, ['prompt:hold-music']);
    await nextEvent(server, 'playback.started', (e) => e.endpoint_id === id);
    const second = playback.play(id, ['prompt:hold-music'], { loop: true });
    assert.deepEqual(await first, { reason: 'stopped' });

    await server.deleteEndpoint(id);
    assert.deepEqual(await second, { reason: 'stopped' });
  });

  test('a G.722 endpoint gets 16 kHz audio: ffmpeg decodes the tone at 1000 Hz', needs('ffmpeg'), async (t) => {
    const { pcm, codec } = await toneThroughFfmpeg(t, 'g722', 9, 'G722/8000', 16000);
    assert.equal(codec, 'g722');
    assert.ok(pcm.length >= 16000, `${pcm.length} samples`);
    const f = toneFrequency(pcm, 16000, 1600, pcm.length - 800);
    assert.ok(Math.abs(f - 1000) < 2, `measured ${f.toFixed(2)} Hz`);
  });

  test('an Opus endpoint gets 48 kHz audio: ffmpeg decodes the tone at 1000 Hz', needs('ffmpeg'), async (t) => {
    const { pcm, codec } = await toneThroughFfmpeg(t, 'opus', 111, 'opus/48000/2', 48000);
    assert.equal(codec, 'opus');
    assert.ok(pcm.length >= 48000, `${pcm.length} samples`);
    const f = toneFrequency(pcm, 48000, 4800, pcm.length - 2400);
    assert.ok(Math.abs(f - 1000) < 2, `measured ${f.toFixed(2)} Hz`);
  });
});
