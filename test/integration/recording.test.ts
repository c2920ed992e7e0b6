import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { RecordingService } from '../../src/control/services/RecordingService.ts';
import { run } from '../helpers/proc.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { decodeWithFfmpeg, findSegment, probe, rms, sine, SPEECH_WAV, streamPcmu, tonePower } from './recordingHelpers.ts';

/**
 * Recording through a real MediaServer: RTP from a peer socket into an endpoint, the worker's
 * RecordingEngine on the media clock, files checked by ffprobe, ffmpeg and opusinfo.
 */

type T = { after(fn: () => unknown): void };

async function setup(t: T, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'msc-rec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ RECORDINGS_DIR: dir, ...env });
  t.after(() => server.close());
  const recordings = RecordingService.of(server);
  return { dir, server, recordings };
}

async function peerEndpoint(t: T, server: Awaited<ReturnType<typeof startServer>>, affinity?: string) {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']), ...(affinity ? { affinity } : {}) });
  return { peer, ep };
}

test('RecordingService.start() records an endpoint in wav, mp3 and opus at once: ffprobe and opusinfo accept them, the audio correlates with the speech sent', async (t) => {
  const { dir, server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const speech = await decodeWithFfmpeg(SPEECH_WAV);
  const wav = await recordings.start({ endpointId: ep.id, format: 'wav' });
  const mp3 = await recordings.start({ endpointId: ep.id, format: 'mp3', name: 'calls/speech' });
  const opus = await recordings.start({ endpointId: ep.id, format: 'opus' });
  assert.equal(wav.state, 'recording');
  assert.equal(wav.path, path.join(dir, `${wav.id}.wav`));
  assert.equal(mp3.path, path.join(dir, 'calls', 'speech.mp3'));
  assert.equal(opus.path, path.join(dir, `${opus.id}.opus`));
  assert.equal(wav.sample_rate, 8000);

  await streamPcmu(peer, ep.rtp_port, speech);
  const results = await Promise.all([wav, mp3, opus].map((r) => recordings.stop(r.id)));
  for (const r of results) {
    assert.equal(r.cause, 'stopped');
    assert.equal(r.bytes, statSync(r.path).size, `${r.format}: bytes is the file size`);
    assert.ok(r.duration_ms >= 1700 && r.duration_ms <= 2600, `${r.format}: duration ${r.duration_ms} ms for 1.8 s sent`);
  }

  for (const r of results) {
    const p = await probe(r.path);
    assert.equal(p.codec, { wav: 'pcm_s16le', mp3: 'mp3', opus: 'opus' }[r.format]);
    assert.equal(p.channels, 1);
    if (r.format !== 'opus') assert.equal(p.sampleRate, 8000);
    assert.ok(Math.abs(p.durationS * 1000 - r.duration_ms) < 150, `${r.format}: ffprobe ${p.durationS} s vs ${r.duration_ms} ms`);
    const got = await decodeWithFfmpeg(r.path);
    // 0.5 s of the speech, found in the recording (which starts earlier, by an unknown delay)
    const c = findSegment(speech, got, 4000, 4000);
    // G.711 alone is near-identical; after a lossy codec the waveform still follows the speech
    assert.ok(c.r > (r.format === 'wav' ? 0.95 : 0.7), `${r.format}: correlation ${c.r.toFixed(3)} at offset ${c.offset}`);
  }
  const info = await run('opusinfo', [results[2]!.path]).done;
  assert.equal(info.code, 0, `opusinfo rejected the file: ${info.stdout}${info.stderr}`);
  assert.doesNotMatch(info.stdout + info.stderr, /WARNING|ERROR/i);
  assert.equal(recordings.get(wav.id).state, 'finished');
});

test('RecordingService.start() of a bridge in stereo puts leg A on the left and leg B on the right', async (t) => {
  const { server, recordings } = await setup(t);
  const a = await peerEndpoint(t, server, 'call-1');
  const b = await peerEndpoint(t, server, 'call-1');
  const bridge = await server.createBridge({ endpoint_a: a.ep.id, endpoint_b: b.ep.id });
  const rec = await recordings.start({ bridgeId: bridge.id, format: 'wav', channels: 'stereo' });
  assert.equal(rec.bridge_id, bridge.id);
  assert.equal(rec.endpoint_id, a.ep.id);
  await Promise.all([streamPcmu(a.peer, a.ep.rtp_port, sine(400, 1000)), streamPcmu(b.peer, b.ep.rtp_port, sine(1300, 1000))]);
  const r = await recordings.stop(rec.id);
  const p = await probe(r.path);
  assert.equal(p.channels, 2);
  const left = await decodeWithFfmpeg(r.path, 8000, 1).then(() => channel(r.path, 0));
  const right = await channel(r.path, 1);
  assert.ok(tonePower(left, 400, 8000) > 100 * tonePower(left, 1300, 8000), 'left is leg A (400 Hz)');
  assert.ok(tonePower(right, 1300, 8000) > 100 * tonePower(right, 400, 8000), 'right is leg B (1300 Hz)');
});

/** One channel of a 16-bit stereo WAV (header parsed by ffmpeg: pan filter). */
async function channel(file: string, c: 0 | 1): Promise<Int16Array> {
  const out = `${file}.c${c}.s16`;
  const r = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', file, '-af', `pan=mono|c0=c${c}`, '-f', 's16le', out]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

test('RecordingService.start() keeps the timeline through packet loss: lost frames are recorded as silence', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
  // 1.2 s of tone, frames 25..34 (200 ms) lost on the way
  const lose = new Set<number>();
  for (let i = 25; i < 35; i++) lose.add(i);
  await streamPcmu(peer, ep.rtp_port, sine(700, 1200), lose);
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
  assert.ok(longest * 10 >= 160 && longest * 10 <= 260, `silent gap ${longest * 10} ms for 200 ms lost`);
  assert.ok(spanMs >= 1120 && spanMs <= 1320, `tone spans ${spanMs} ms for 1200 ms sent`);
});

test('RecordingService: max_duration_ms stops the recording with cause max_duration and a recording.finished event', async (t) => {
  const { server, recordings } = await setup(t);
  const { ep } = await peerEndpoint(t, server);
  const finished = nextEvent(server, 'recording.finished');
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav', maxDurationMs: 300 });
  const e = await finished;
  assert.equal(e.recording_id, rec.id);
  assert.equal(e.endpoint_id, ep.id);
  assert.equal(e.cause, 'max_duration');
  assert.equal(e.path, rec.path);
  assert.equal(e.duration_ms, 300);
  const info = recordings.get(rec.id);
  assert.equal(info.state, 'finished');
  assert.equal(info.cause, 'max_duration');
  const p = await probe(rec.path);
  assert.ok(Math.abs(p.durationS - 0.3) < 0.005, `ffprobe says ${p.durationS} s`);
  // DELETE after the end answers the result
  const r = await recordings.stop(rec.id);
  assert.equal(r.cause, 'max_duration');
});

test('RecordingService: deleting the endpoint finalises its recordings with cause hangup', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'mp3' });
  await streamPcmu(peer, ep.rtp_port, sine(500, 400));
  const finished = recordings.finished(rec.id);
  await server.deleteEndpoint(ep.id);
  const info = await finished;
  assert.equal(info.cause, 'hangup');
  assert.equal(info.state, 'finished');
  assert.ok(info.duration_ms! >= 300, `duration ${info.duration_ms}`);
  const p = await probe(rec.path);
  assert.equal(p.codec, 'mp3');
});

test('RecordingService: pause drops the audio meanwhile, resume continues', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
  await streamPcmu(peer, ep.rtp_port, sine(600, 300));
  assert.equal((await recordings.pause(rec.id)).state, 'paused');
  await streamPcmu(peer, ep.rtp_port, sine(1500, 400));
  assert.equal((await recordings.resume(rec.id)).state, 'recording');
  await streamPcmu(peer, ep.rtp_port, sine(600, 300));
  const r = await recordings.stop(rec.id);
  assert.ok(r.duration_ms >= 560 && r.duration_ms <= 800, `duration ${r.duration_ms} ms excludes the pause`);
  const got = await decodeWithFfmpeg(r.path);
  assert.ok(tonePower(got, 1500, 8000) < 0.01 * tonePower(got, 600, 8000), 'nothing of what was said during the pause');
});

test('RecordingService: beep plays a 1 kHz tone to the peer and starts the file with it', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav', beep: true });
  await peer.waitFor(8);
  const r = await recordings.stop(rec.id);
  const heard = new Int16Array(peer.received.length * 160);
  const { ulawToLinear } = await import('../../src/media/codecs/g711.ts');
  peer.received.forEach((p, i) => { for (let k = 0; k < 160 && k < p.payload.length; k++) heard[i * 160 + k] = ulawToLinear(p.payload[k]!); });
  assert.ok(tonePower(heard, 1000, 8000) > 1e6, 'the peer heard 1 kHz');
  assert.ok(peer.received.length <= 12, `about 200 ms of beep, got ${peer.received.length} packets`);
  const got = await decodeWithFfmpeg(r.path);
  assert.ok(tonePower(got.subarray(0, 1600), 1000, 8000) > 1e6, 'the file starts with the beep');
});

test('RecordingService: a bridge across two media workers is refused with BRIDGE_CROSS_WORKER', async (t) => {
  const { server, recordings } = await setup(t, { MEDIA_WORKERS: '2' });
  const a = await peerEndpoint(t, server);
  let b = await peerEndpoint(t, server);
  for (let i = 0; server.workerOf(b.ep.id) === server.workerOf(a.ep.id) && i < 20; i++) b = await peerEndpoint(t, server, `other-${i}`);
  assert.notEqual(server.workerOf(a.ep.id), server.workerOf(b.ep.id));
  const bridge = await server.createBridge({ endpoint_a: a.ep.id, endpoint_b: b.ep.id });
  await assert.rejects(recordings.start({ bridgeId: bridge.id, format: 'wav' }), { name: 'InvalidStateError', code: 'BRIDGE_CROSS_WORKER' });
  assert.deepEqual(recordings.list(), []);
});

test('MediaServer.close() finalises a WAV in progress: the file is complete and playable', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
  const finished = nextEvent(server, 'recording.finished');
  await streamPcmu(peer, ep.rtp_port, sine(800, 600));
  await server.close();
  const e = await finished;
  assert.equal(e.cause, 'shutdown');
  const p = await probe(rec.path);
  assert.ok(p.durationS >= 0.55, `ffprobe says ${p.durationS} s`);
  // header sizes agree with the file: RIFF size = file - 8, data size = file - 44
  const b = readFileSync(rec.path);
  assert.equal(b.readUInt32LE(4), b.length - 8);
  assert.equal(b.readUInt32LE(40), b.length - 44);
  assert.equal(Number(e.bytes), b.length);
});
