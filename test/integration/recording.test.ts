import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { run } from '../helpers/proc.ts';
import { chunkedCorrelation, decodeWithFfmpeg, ffprobe, rms, sine, tonePower } from '../helpers/audio.ts';
import { peerEndpoint, setup, SPEECH_WAV, streamPcmu } from './recordingHelpers.ts';
import { needs } from '../helpers/peers.ts';

/**
 * Recording through a real MediaServer: RTP from a peer socket into an endpoint, the worker's
 * RecordingEngine on the media clock, files checked by ffprobe, ffmpeg and opusinfo.
 */

test(
  'RecordingService.start() records an endpoint in wav, mp3 and opus at once: ffprobe and opusinfo accept them, the audio correlates with the speech sent',
  needs('ffmpeg', 'ffprobe', 'opusinfo', 'asterisk-sounds'),
  async (t) => {
    const { dir, server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const speech = await decodeWithFfmpeg(SPEECH_WAV);
    // Each recording's timeline starts when it does: the earlier ones hold the silence of the
    // later ones' start (an encoder's first start is slow on a loaded machine), measured here.
    const startedAt: number[] = [];
    startedAt.push(performance.now());
    const wav = await recordings.start({ endpointId: ep.id, format: 'wav' });
    startedAt.push(performance.now());
    const mp3 = await recordings.start({ endpointId: ep.id, format: 'mp3', name: 'calls/speech' });
    startedAt.push(performance.now());
    const opus = await recordings.start({ endpointId: ep.id, format: 'opus' });
    assert.equal(wav.state, 'recording');
    assert.equal(wav.path, path.join(dir, `${wav.id}.wav`));
    assert.equal(mp3.path, path.join(dir, 'calls', 'speech.mp3'));
    assert.equal(opus.path, path.join(dir, `${opus.id}.opus`));
    assert.equal(wav.sample_rate, 8000);

    const streamAt = performance.now();
    await streamPcmu(peer, ep.rtp_port, speech);
    const results = await Promise.all([wav, mp3, opus].map((r) => recordings.stop(r.id)));
    results.forEach((r, i) => {
      assert.equal(r.cause, 'stopped');
      assert.equal(r.bytes, statSync(r.path).size, `${r.format}: bytes is the file size`);
      const lead = streamAt - startedAt[i]!;
      assert.ok(
        r.duration_ms >= 1700 && r.duration_ms <= 1800 + lead + 400,
        `${r.format}: duration ${r.duration_ms} ms for 1.8 s sent ${lead.toFixed(0)} ms after it started`,
      );
    });

    for (const r of results) {
      const p = await ffprobe(r.path);
      assert.equal(p.codec, { wav: 'pcm_s16le', mp3: 'mp3', opus: 'opus' }[r.format]);
      assert.equal(p.channels, 1);
      if (r.format !== 'opus') assert.equal(p.sampleRate, 8000);
      // an MP3 without a Xing header: ffprobe estimates its duration from the bitrate
      assert.ok(
        Math.abs(p.duration * 1000 - r.duration_ms) < (r.format === 'mp3' ? 300 : 100),
        `${r.format}: ffprobe ${p.duration} s vs ${r.duration_ms} ms`,
      );
      const got = await decodeWithFfmpeg(r.path);
      // G.711 alone is near-identical; after a lossy codec the waveform still follows the speech
      const c = chunkedCorrelation(speech, got);
      assert.ok(c.chunks >= 10);
      assert.ok(
        c.median > (r.format === 'wav' ? 0.99 : 0.85),
        `${r.format}: median correlation ${c.median.toFixed(3)}`,
      );
    }
    const info = await run('opusinfo', [results[2]!.path]).done;
    assert.equal(info.code, 0, `opusinfo rejected the file: ${info.stdout}${info.stderr}`);
    assert.doesNotMatch(info.stdout + info.stderr, /WARNING|ERROR/i);
    assert.equal(recordings.get(wav.id).state, 'finished');
  },
);

test(
  'RecordingService.start() of a bridge in stereo puts leg A on the left and leg B on the right',
  needs('ffmpeg', 'ffprobe'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const a = await peerEndpoint(t, server, 'call-1');
    const b = await peerEndpoint(t, server, 'call-1');
    const bridge = await server.createBridge({ endpoint_a: a.ep.id, endpoint_b: b.ep.id });
    const rec = await recordings.start({ bridgeId: bridge.id, format: 'wav', channels: 'stereo' });
    assert.equal(rec.bridge_id, bridge.id);
    assert.equal(rec.endpoint_id, a.ep.id);
    await Promise.all([
      streamPcmu(a.peer, a.ep.rtp_port, sine(8000, 1, 400, 8000)),
      streamPcmu(b.peer, b.ep.rtp_port, sine(8000, 1, 1300, 8000)),
    ]);
    const r = await recordings.stop(rec.id);
    const p = await ffprobe(r.path);
    assert.equal(p.channels, 2);
    const left = await channel(r.path, 0);
    const right = await channel(r.path, 1);
    assert.ok(tonePower(left, 400, 8000) > 100 * tonePower(left, 1300, 8000), 'left is leg A (400 Hz)');
    assert.ok(tonePower(right, 1300, 8000) > 100 * tonePower(right, 400, 8000), 'right is leg B (1300 Hz)');
  },
);

test(
  'RecordingService.start() of a bridged endpoint in stereo: left = what it received, right = what the bridge sent it',
  needs('ffmpeg'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const a = await peerEndpoint(t, server, 'call-2');
    const b = await peerEndpoint(t, server, 'call-2');
    await server.createBridge({ endpoint_a: a.ep.id, endpoint_b: b.ep.id });
    const rec = await recordings.start({ endpointId: a.ep.id, format: 'wav', channels: 'stereo' });
    await Promise.all([
      streamPcmu(a.peer, a.ep.rtp_port, sine(8000, 0.8, 400, 8000)),
      streamPcmu(b.peer, b.ep.rtp_port, sine(8000, 0.8, 1300, 8000)),
    ]);
    const r = await recordings.stop(rec.id);
    const left = await channel(r.path, 0);
    const right = await channel(r.path, 1);
    assert.ok(tonePower(left, 400, 8000) > 100 * tonePower(left, 1300, 8000), 'left: received from peer A (400 Hz)');
    assert.ok(tonePower(right, 1300, 8000) > 100 * tonePower(right, 400, 8000), 'right: relayed from B to A (1300 Hz)');
    assert.ok(rms(right) > 1000, `right channel has audio (rms ${rms(right).toFixed(0)})`);
  },
);

/** One channel of a 16-bit stereo WAV (header parsed by ffmpeg: pan filter). */
async function channel(file: string, c: 0 | 1): Promise<Int16Array> {
  const out = `${file}.c${c}.s16`;
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-i',
    file,
    '-af',
    `pan=mono|c0=c${c}`,
    '-f',
    's16le',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

test(
  'RecordingService.start() keeps the timeline through packet loss: lost frames are recorded as silence',
  needs('ffmpeg'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
    // 1.2 s of tone, frames 25..34 (200 ms) lost on the way
    const lose = new Set<number>();
    for (let i = 25; i < 35; i++) lose.add(i);
    await streamPcmu(peer, ep.rtp_port, sine(8000, 1.2, 700, 8000), lose);
    // the decoding path's jitter buffer saw the 10 frames go missing
    const jb = (await server.getEndpoint(ep.id)).stats.jitter_buffer;
    assert.ok(jb && jb.lost === 10 && jb.concealed >= 1, `jitter buffer stats ${JSON.stringify(jb)}`);
    const r = await recordings.stop(rec.id);
    const got = await decodeWithFfmpeg(r.path);
    // find the tone's span and the silent run inside it, in 10 ms blocks
    const blocks: boolean[] = [];
    for (let i = 0; i + 80 <= got.length; i += 80) blocks.push(rms(got, i, i + 80) > 1000);
    const first = blocks.indexOf(true);
    const last = blocks.lastIndexOf(true);
    assert.ok(first >= 0, 'tone recorded');
    let gap = 0;
    let longest = 0;
    for (let i = first; i <= last; i++) {
      gap = blocks[i] ? 0 : gap + 1;
      if (gap > longest) longest = gap;
    }
    const spanMs = (last - first + 1) * 10;
    // the jitter slack queued before the loss (20 ms, more after a stall on a loaded machine) fills
    // part of the hole; the rest is silence, and the timeline after it is kept
    assert.ok(longest * 10 >= 60 && longest * 10 <= 260, `silent gap ${longest * 10} ms for 200 ms lost`);
    assert.ok(spanMs >= 1120 && spanMs <= 1320, `tone spans ${spanMs} ms for 1200 ms sent`);
  },
);
