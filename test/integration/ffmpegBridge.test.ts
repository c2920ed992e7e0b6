import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freeUdpPortPair, run, waitUntilBound } from '../helpers/proc.ts';
import { startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';

/**
 * Real peers on both sides of a bridge: ffmpeg sends pink noise (only the exact alignment correlates) as PCMU RTP into endpoint A, and a
 * second ffmpeg receives endpoint B's stream through an SDP file. Nobody here wrote either.
 */

function sdpFor(port: number, pt: number, name: string): string {
  return [
    'v=0',
    'o=ffmpeg 1 1 IN IP4 127.0.0.1',
    's=peer',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP ${pt}`,
    `a=rtpmap:${pt} ${name}/8000`,
    `a=rtcp:${port + 1}`,
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function sdpRecvOnly(port: number, pt: number, name: string): string {
  return sdpFor(port, pt, name).replace('a=sendrecv', 'a=recvonly');
}

/** Decodes G.711 bytes to linear with ffmpeg itself (no code of ours in the comparison). */
async function decodeG711(file: string, format: 'mulaw' | 'alaw'): Promise<Int16Array> {
  const out = `${file}.s16`;
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    format,
    '-ar',
    '8000',
    '-ac',
    '1',
    '-i',
    file,
    '-f',
    's16le',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1);
}

/**
 * Best normalised cross-correlation of `x` against `ref` over lags -400..maxLag: `x` may start
 * later than the reference (packets before the receiver was up) or lag it by codec and
 * resampler delay (negative lag).
 */
function bestCorrelation(ref: Int16Array, x: Int16Array, maxLag: number): { lag: number; r: number } {
  let best = { lag: 0, r: -1 };
  const n = Math.min(x.length, ref.length - maxLag) - 400;
  for (let lag = -400; lag <= maxLag; lag++) {
    let sxy = 0,
      sxx = 0,
      syy = 0;
    for (let i = 400; i < n; i++) {
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

/**
 * Median over 100 ms chunks of each chunk's best correlation (lags within ±200 ms of the global
 * best): a jitter buffer may legitimately stretch or shrink the timeline by a frame or two
 * mid-stream, which a single global lag would count as distortion.
 */
function chunkedCorrelation(ref: Int16Array, x: Int16Array, maxLag: number): number {
  const { lag: lag0 } = bestCorrelation(ref, x, maxLag);
  const scores: number[] = [];
  for (let start = 400; start + 800 <= x.length - 400; start += 800) {
    let e = 0;
    for (let i = start; i < start + 800; i++) e += x[i]! * x[i]!;
    if (e / 800 < 300 * 300) continue; // skip pauses between words
    let best = -1;
    for (let lag = lag0 - 1600; lag <= lag0 + 1600; lag += 1) {
      if (start + lag < 0 || start + 800 + lag > ref.length) continue;
      let sxy = 0,
        sxx = 0,
        syy = 0;
      for (let i = start; i < start + 800; i++) {
        const a = ref[i + lag]!,
          b = x[i]!;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
      }
      const r = sxy / Math.sqrt(sxx * syy || 1);
      if (r > best) best = r;
    }
    scores.push(best);
  }
  scores.sort((a, b) => a - b);
  return scores[Math.floor(scores.length / 2)] ?? 0;
}

async function bridgeThroughFfmpeg(
  t: { after(fn: () => unknown): void },
  receiverCodec: { pt: number; name: string; format: 'mulaw' | 'alaw' },
) {
  const dir = mkdtempSync(path.join(tmpdir(), 'msc-ffmpeg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer();
  t.after(() => server.close());

  const senderPort = await freeUdpPortPair();
  const receiverPort = await freeUdpPortPair();
  const a = await server.createEndpoint({ remote_sdp: sdpFor(senderPort, 0, 'PCMU') });
  const b = await server.createEndpoint({
    remote_sdp: sdpRecvOnly(receiverPort, receiverCodec.pt, receiverCodec.name.toUpperCase()),
  });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });

  // The receiver reads an SDP describing what arrives on its port.
  const recvSdp = path.join(dir, 'recv.sdp');
  writeFileSync(recvSdp, sdpFor(receiverPort, receiverCodec.pt, receiverCodec.name.toUpperCase()));
  const received = path.join(dir, 'received.g711');
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
      recvSdp,
      '-t',
      '1.6',
      '-c:a',
      'copy',
      '-f',
      receiverCodec.format,
      received,
    ],
    20_000,
  );
  await waitUntilBound(receiverPort);

  // The reference: what the sender encodes, written to a file by ffmpeg the same way.
  const source = [
    '-f',
    'lavfi',
    '-i',
    'anoisesrc=duration=2.5:color=pink:sample_rate=8000:amplitude=0.3:seed=7',
    '-ac',
    '1',
    '-c:a',
    'pcm_mulaw',
  ];
  const reference = path.join(dir, 'reference.ulaw');
  assert.equal(
    (await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...source, '-f', 'mulaw', reference]).done).code,
    0,
  );
  const sender = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      ...source,
      '-payload_type',
      '0',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${a.rtp_port}?localrtpport=${senderPort}&pkt_size=172`,
    ],
    20_000,
  ).done;
  assert.equal(sender.code, 0, sender.stderr);
  const rx = await receiver.done;
  assert.equal(rx.code, 0, `ffmpeg receiver failed: ${rx.stderr}`);

  const ref = await decodeG711(reference, 'mulaw');
  const got = await decodeG711(received, receiverCodec.format);
  assert.ok(got.length >= 8000, `received ${got.length} samples, expected at least 1 s`);
  return { ref, got, stats: await server.getEndpoint(a.id), statsB: await server.getEndpoint(b.id) };
}

test(
  'ffmpeg → endpoint A → bridge → endpoint B → ffmpeg: PCMU relayed bit-exact',
  needs('ffmpeg', 'asterisk-sounds'),
  async (t) => {
    const { ref, got, stats } = await bridgeThroughFfmpeg(t, { pt: 0, name: 'PCMU', format: 'mulaw' });
    const { r } = bestCorrelation(ref, got, 8000);
    assert.ok(r > 0.999, `correlation with the source ${r.toFixed(4)}`);
    assert.ok(stats.stats.packets_received >= 100, `${stats.stats.packets_received} packets received`);
    assert.equal(stats.stats.packets_lost, 0);
  },
);

test(
  'ffmpeg PCMU → bridge transcoding to PCMA → ffmpeg: the audio survives',
  needs('ffmpeg', 'asterisk-sounds'),
  async (t) => {
    const { ref, got, statsB } = await bridgeThroughFfmpeg(t, { pt: 8, name: 'PCMA', format: 'alaw' });
    assert.equal(statsB.codec?.name, 'pcma');
    const { r } = bestCorrelation(ref, got, 8000);
    assert.ok(r > 0.99, `correlation with the source ${r.toFixed(4)}`);
  },
);

/** Real speech through a transcoding bridge to a wideband / Opus receiver (ffmpeg decodes). */
async function transcodeSpeech(
  t: { after(fn: () => unknown): void },
  rx: { pt: number; rtpmap: string; fmtp?: string; gstCaps?: string; gstDepay?: string },
): Promise<{ ref: Int16Array; got: Int16Array; mode: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'msc-transcode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer();
  t.after(() => server.close());
  const senderPort = await freeUdpPortPair();
  const receiverPort = await freeUdpPortPair();
  const rxSdp = [
    'v=0',
    'o=ffmpeg 1 1 IN IP4 127.0.0.1',
    's=peer',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${receiverPort} RTP/AVP ${rx.pt}`,
    `a=rtpmap:${rx.pt} ${rx.rtpmap}`,
    ...(rx.fmtp ? [`a=fmtp:${rx.pt} ${rx.fmtp}`] : []),
    `a=rtcp:${receiverPort + 1}`,
    'a=ptime:20',
    '',
  ].join('\r\n');
  const a = await server.createEndpoint({ remote_sdp: sdpFor(senderPort, 0, 'PCMU') });
  const b = await server.createEndpoint({ remote_sdp: rxSdp.replace('a=ptime:20', 'a=ptime:20\r\na=recvonly') });
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  const recvSdp = path.join(dir, 'recv.sdp');
  writeFileSync(recvSdp, rxSdp);
  const received = path.join(dir, 'received.s16');
  // ffmpeg decodes G.722 from the SDP; for Opus its RTP reader stalls after the first frame on
  // this version, so GStreamer (rtpopusdepay ! opusdec) is the Opus peer.
  const receiver = rx.gstCaps
    ? run(
        'gst-launch-1.0',
        [
          '-q',
          '-e',
          'udpsrc',
          `port=${receiverPort}`,
          'address=127.0.0.1',
          `caps=${rx.gstCaps}`,
          '!',
          'rtpjitterbuffer',
          'latency=60',
          '!',
          rx.gstDepay!,
          '!',
          'opusdec',
          '!',
          'audioconvert',
          '!',
          'audioresample',
          '!',
          'audio/x-raw,rate=8000,channels=1,format=S16LE',
          '!',
          'filesink',
          `location=${received}`,
        ],
        20_000,
      )
    : run(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-y',
          '-protocol_whitelist',
          'file,udp,rtp',
          '-i',
          recvSdp,
          '-t',
          '2.5',
          '-ar',
          '8000',
          '-ac',
          '1',
          '-f',
          's16le',
          received,
        ],
        20_000,
      );
  await waitUntilBound(receiverPort);
  const source = [
    '-i',
    '/usr/share/asterisk/sounds/en/vm-intro.wav',
    '-t',
    '4',
    '-ar',
    '8000',
    '-ac',
    '1',
    '-c:a',
    'pcm_mulaw',
  ];
  const reference = path.join(dir, 'reference.ulaw');
  assert.equal(
    (await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...source, '-f', 'mulaw', reference]).done).code,
    0,
  );
  const sender = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      ...source,
      '-payload_type',
      '0',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${a.rtp_port}?localrtpport=${senderPort}&pkt_size=172`,
    ],
    20_000,
  ).done;
  assert.equal(sender.code, 0, sender.stderr);
  if (rx.gstCaps) {
    // The bridge's jitter buffer still holds the last packets: wait until B has sent as many
    // frames as A received (bounded), then give GStreamer's own 60 ms jitter buffer its time.
    const inA = (await server.getEndpoint(a.id)).stats.packets_received;
    for (let i = 0; i < 250 && (await server.getEndpoint(b.id)).stats.packets_sent < inA; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    receiver.child.kill('SIGINT'); // -e: end of stream, the file is flushed
  }
  const rxResult = await receiver.done;
  assert.equal(rxResult.code, 0, `receiver: ${rxResult.stderr}`);
  const b16 = readFileSync(received);
  return {
    ref: await decodeG711(reference, 'mulaw'),
    got: new Int16Array(b16.buffer, b16.byteOffset, b16.length >> 1),
    mode: bridge.mode,
  };
}

test(
  'PCMU → bridge → G.722 (16 kHz) received by ffmpeg: real speech survives the transcoding',
  needs('ffmpeg', 'asterisk-sounds'),
  async (t) => {
    const { ref, got, mode } = await transcodeSpeech(t, { pt: 9, rtpmap: 'G722/8000' });
    assert.equal(mode, 'transcode');
    assert.ok(got.length >= 8000, `received ${got.length} samples`);
    const r = chunkedCorrelation(ref, got, 8000);
    assert.ok(r > 0.95, `median correlation with the source over 100 ms chunks ${r.toFixed(3)}`);
  },
);

test(
  'PCMU → bridge → Opus received by GStreamer: real speech survives the transcoding',
  needs('ffmpeg', 'gst-launch-1.0', 'asterisk-sounds'),
  async (t) => {
    const { ref, got, mode } = await transcodeSpeech(t, {
      pt: 111,
      rtpmap: 'opus/48000/2',
      fmtp: 'minptime=10;useinbandfec=1',
      gstCaps: 'application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111',
      gstDepay: 'rtpopusdepay',
    });
    assert.equal(mode, 'transcode');
    assert.ok(got.length >= 8000, `received ${got.length} samples`);
    const r = chunkedCorrelation(ref, got, 8000);
    assert.ok(r > 0.8, `median correlation with the source over 100 ms chunks ${r.toFixed(3)}`);
  },
);
