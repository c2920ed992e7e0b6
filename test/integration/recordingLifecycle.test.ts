import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ulawToLinear } from '../../src/media/codecs/g711.ts';
import { nextEvent } from '../helpers/server.ts';
import { decodeWithFfmpeg, ffprobe, sine, tonePower } from '../helpers/audio.ts';
import { peerEndpoint, setup, streamPcmu } from './recordingHelpers.ts';
import { needs } from '../helpers/peers.ts';

/**
 * How recordings end and what their options do, through a real MediaServer: max duration,
 * hangup, pause, beep, placement limits, and shutdown finalising the file.
 */

test(
  'RecordingService: max_duration_ms stops the recording with cause max_duration and a recording.finished event',
  needs('ffprobe'),
  async (t) => {
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
    const p = await ffprobe(rec.path);
    assert.ok(Math.abs(p.duration - 0.3) < 0.005, `ffprobe says ${p.duration} s`);
    // DELETE after the end answers the result
    const r = await recordings.stop(rec.id);
    assert.equal(r.cause, 'max_duration');
  },
);

test(
  'RecordingService: deleting the endpoint finalises its recordings with cause hangup',
  needs('ffprobe'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const rec = await recordings.start({ endpointId: ep.id, format: 'mp3' });
    await streamPcmu(peer, ep.rtp_port, sine(8000, 0.4, 500, 8000));
    const finished = recordings.finished(rec.id);
    await server.deleteEndpoint(ep.id);
    const info = await finished;
    assert.equal(info.cause, 'hangup');
    assert.equal(info.state, 'finished');
    assert.ok(info.duration_ms! >= 300, `duration ${info.duration_ms}`);
    const p = await ffprobe(rec.path);
    assert.equal(p.codec, 'mp3');
  },
);

test('RecordingService: pause drops the audio meanwhile, resume continues', needs('ffmpeg'), async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const t0 = performance.now();
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
  await streamPcmu(peer, ep.rtp_port, sine(8000, 0.3, 600, 8000));
  const t1 = performance.now();
  assert.equal((await recordings.pause(rec.id)).state, 'paused');
  await streamPcmu(peer, ep.rtp_port, sine(8000, 0.4, 1500, 8000));
  const t2 = performance.now();
  assert.equal((await recordings.resume(rec.id)).state, 'recording');
  await streamPcmu(peer, ep.rtp_port, sine(8000, 0.3, 600, 8000));
  const r = await recordings.stop(rec.id);
  // The unpaused time as this run measured it (slower on a loaded machine), the pause (400 ms
  // and more) left out; a recording that kept the pause would exceed it by that much.
  const unpaused = t1 - t0 + (performance.now() - t2);
  assert.ok(
    r.duration_ms >= 500 && r.duration_ms <= unpaused + 100,
    `duration ${r.duration_ms} ms excludes the pause (unpaused ${unpaused.toFixed(0)} ms)`,
  );
  const got = await decodeWithFfmpeg(r.path);
  assert.ok(tonePower(got, 1500, 8000) < 0.01 * tonePower(got, 600, 8000), 'nothing of what was said during the pause');
});

test(
  'RecordingService: beep plays a 1 kHz tone to the peer and starts the file with it',
  needs('ffmpeg'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const rec = await recordings.start({ endpointId: ep.id, format: 'wav', beep: true });
    await peer.waitFor(8);
    const r = await recordings.stop(rec.id);
    const heard = new Int16Array(peer.received.length * 160);
    peer.received.forEach((p, i) => {
      for (let k = 0; k < 160 && k < p.payload.length; k++) heard[i * 160 + k] = ulawToLinear(p.payload[k]!);
    });
    assert.ok(tonePower(heard, 1000, 8000) > 1e6, 'the peer heard 1 kHz');
    assert.ok(peer.received.length <= 12, `about 200 ms of beep, got ${peer.received.length} packets`);
    const got = await decodeWithFfmpeg(r.path);
    assert.ok(tonePower(got.subarray(0, 1600), 1000, 8000) > 1e6, 'the file starts with the beep');
  },
);

test('RecordingService: a bridge across two media workers is refused with BRIDGE_CROSS_WORKER', async (t) => {
  const { server, recordings } = await setup(t, { MEDIA_WORKERS: '2' });
  const a = await peerEndpoint(t, server);
  let b = await peerEndpoint(t, server);
  for (let i = 0; server.workerOf(b.ep.id) === server.workerOf(a.ep.id) && i < 20; i++)
    b = await peerEndpoint(t, server, `other-${i}`);
  assert.notEqual(server.workerOf(a.ep.id), server.workerOf(b.ep.id));
  const bridge = await server.createBridge({ endpoint_a: a.ep.id, endpoint_b: b.ep.id });
  await assert.rejects(recordings.start({ bridgeId: bridge.id, format: 'wav' }), {
    name: 'InvalidStateError',
    code: 'BRIDGE_CROSS_WORKER',
  });
  assert.deepEqual(recordings.list(), []);
});

test(
  'MediaServer.close() finalises a WAV in progress: the file is complete and playable',
  needs('ffprobe'),
  async (t) => {
    const { server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const rec = await recordings.start({ endpointId: ep.id, format: 'wav' });
    const finished = nextEvent(server, 'recording.finished');
    await streamPcmu(peer, ep.rtp_port, sine(8000, 0.6, 800, 8000));
    await server.close();
    const e = await finished;
    assert.equal(e.cause, 'shutdown');
    const p = await ffprobe(rec.path);
    assert.ok(p.duration >= 0.55, `ffprobe says ${p.duration} s`);
    // header sizes agree with the file: RIFF size = file - 8, data size = file - 44
    const b = readFileSync(rec.path);
    assert.equal(b.readUInt32LE(4), b.length - 8);
    assert.equal(b.readUInt32LE(40), b.length - 44);
    assert.equal(Number(e.bytes), b.length);
  },
);

test('RecordingService: terminate_on ends the recording on an RFC 4733 key press, with cause dtmf and the digit', async (t) => {
  const { server, recordings } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const rec = await recordings.start({ endpointId: ep.id, format: 'wav', terminateOn: '#' });
  await streamPcmu(peer, ep.rtp_port, sine(8000, 0.2, 500, 8000));
  const done = recordings.finished(rec.id);
  // RFC 4733 section 2.5: '5' (not a terminator), then '#' (event 11); one timestamp per event,
  // growing durations, the end packet three times
  for (const event of [5, 11]) {
    const ts = peer.ts;
    for (const [duration, end] of [
      [160, false],
      [320, false],
      [480, true],
      [480, true],
      [480, true],
    ] as const) {
      const payload = new Uint8Array([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
      peer.ts = ts;
      peer.send(ep.rtp_port, payload, 101, { marker: duration === 160 });
    }
    peer.ts = (ts + 480) >>> 0;
  }
  const info = await done;
  assert.equal(info.cause, 'dtmf');
  assert.equal(info.digit, '#');
  assert.equal(info.state, 'finished');
});

test(
  'RecordingService.record() for flows: an aborted signal stops the recording and resolves with the file (cause stopped)',
  needs('ffprobe'),
  async (t) => {
    const { dir, server, recordings } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const ac = new AbortController();
    const started = nextEvent(server, 'recording.started');
    const done = recordings.record(
      ep.id,
      {
        format: 'wav',
        name: 'voicemail/box-1/msg',
        max_duration_ms: 60_000,
        max_silence_ms: 0,
        terminate_on: '',
        beep: false,
      },
      ac.signal,
    );
    await started;
    await streamPcmu(peer, ep.rtp_port, sine(8000, 0.3, 500, 8000));
    ac.abort();
    const r = await done;
    assert.equal(r.cause, 'stopped');
    assert.equal(r.path, path.join(dir, 'voicemail', 'box-1', 'msg.wav'));
    assert.ok(r.durationMs >= 250, `duration ${r.durationMs}`);
    const p = await ffprobe(r.path);
    assert.ok(p.duration >= 0.25);
    // a second take with the same name overwrites (a flow re-recording a message)
    const again = recordings.record(
      ep.id,
      { format: 'wav', name: 'voicemail/box-1/msg', max_duration_ms: 200 },
      new AbortController().signal,
    );
    assert.equal((await again).cause, 'max_duration');
    assert.ok(Math.abs((await ffprobe(r.path)).duration - 0.2) < 0.01);
    await assert.rejects(recordings.record(ep.id, { format: 'wav' }, AbortSignal.abort()), { name: 'AbortError' });
  },
);
