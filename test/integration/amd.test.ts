import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startGrpcServer } from '../../src/api/grpc/GrpcServer.ts';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';
import { GrpcTestClient } from '../api/grpc/grpcClient.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { tempDir } from '../helpers/audio.ts';
import { needs } from '../helpers/peers.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { accuracySamples, answer, espeak, pcm8k, SOUNDS } from './amdHelpers.ts';

/**
 * Answering-machine detection end to end: real speech (espeak-ng, Asterisk's recorded prompts)
 * sent as RTP in real time by a peer, POST /endpoints/:id/amd, the `endpoint.amd` event.
 */

type T = { after(fn: () => unknown): void };

// One server for the file (starting one costs seconds on a loaded machine); each test opens
// its own endpoints and peers.
let shared: { server: MediaServer; app: FastifyInstance } | null = null;
before(async () => {
  const server = await startServer({ GRPC_PORT: '0' });
  const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
  await app.ready();
  shared = { server, app };
});
after(async () => {
  await shared?.app.close();
  await shared?.server.close();
});

async function setup(_t: T): Promise<{ server: MediaServer; app: FastifyInstance }> {
  assert.ok(shared);
  return shared;
}

async function peerEndpoint(t: T, server: MediaServer, codec: 'pcmu' | 'g722' = 'pcmu') {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer([codec]) });
  return { peer, ep };
}

/**
 * Sends `frames` (one RTP payload per 20 ms) paced on the absolute timeline until all are sent or
 * `stop()` says so (the detection decided: a 30 s prompt need not be sent whole). Resolves with
 * the frames sent.
 */
function stream(peer: RtpPeer, port: number, frames: Uint8Array[], pt: number, stop: () => boolean): Promise<number> {
  let i = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(frames.length, Math.floor((performance.now() - start) / 20) + 1);
      for (; i < due && !stop(); i++) peer.send(port, frames[i]!, pt, { marker: i === 0, samples: 160 });
      if (i >= frames.length || stop()) {
        clearInterval(timer);
        resolve(i);
      }
    }, 5);
  });
}

function pcmuFrames(pcm: Int16Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = 0; (f + 1) * 160 <= pcm.length; f++) {
    const payload = new Uint8Array(160);
    for (let k = 0; k < 160; k++) payload[k] = linearToUlaw(pcm[f * 160 + k]!);
    out.push(payload);
  }
  return out;
}

/** Starts a detection over REST, streams `pcm` as PCMU, resolves with the endpoint.amd event. */
async function detect(
  server: MediaServer,
  app: FastifyInstance,
  peer: RtpPeer,
  ep: { id: string; rtp_port: number },
  pcm: Int16Array,
  body: Record<string, number> = {},
) {
  const res = await app.inject({ method: 'POST', url: `/endpoints/${ep.id}/amd`, payload: body });
  assert.equal(res.statusCode, 201, res.body);
  const started = res.json();
  assert.equal(started.state, 'running');
  let decided = false;
  const event = nextEvent(server, 'endpoint.amd', (e) => e.id === started.id, 15000).then((e) => {
    decided = true;
    return e;
  });
  const sent = stream(peer, ep.rtp_port, pcmuFrames(pcm), 0, () => decided);
  const e = await event;
  return { started, event: e, sentMs: (await sent) * 20 };
}

test(
  'amd: a recorded "hello" then silence is human (HUMAN-800-800), decided 800 ms after the word',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const hello = pcm8k(`${SOUNDS}/hello.wav`);
    const { started, event } = await detect(server, app, peer, ep, answer(hello, 400));
    assert.equal(event.result, 'human');
    assert.equal(event.cause, 'HUMAN');
    assert.equal(event.detail, 'HUMAN-800-800');
    assert.equal(event.words, 1);
    // decided on the sender's timeline: after the lead silence, the word and 800 ms more, never
    // before the word's end and well before the 3 s of trailing silence ran out
    const helloMs = (hello.length / 8) | 0;
    assert.ok((event.analysed_ms as number) >= 400 + 800, `analysed ${event.analysed_ms}`);
    assert.ok(
      (event.analysed_ms as number) <= 400 + helloMs + 800 + 40,
      `analysed ${event.analysed_ms} (word ${helloMs} ms)`,
    );
    const got = await app.inject({ method: 'GET', url: `/endpoints/${ep.id}/amd/${started.id}` });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(
      [got.json().state, got.json().result, got.json().cause, got.json().detail],
      ['done', 'human', 'HUMAN', 'HUMAN-800-800'],
    );
    assert.equal(got.json().parameters.maximum_number_of_words, 2);
  },
);

test(
  'amd: an espeak-ng "Hello?" is human; a voicemail greeting of several seconds is machine',
  needs('sox', 'espeak-ng'),
  async (t) => {
    const { server, app } = await setup(t);
    const dir = tempDir(t, 'msc-amd-');
    const a = await peerEndpoint(t, server);
    const b = await peerEndpoint(t, server);
    const greeting = espeak(
      dir,
      'vm',
      'Hello, you have reached the voicemail of Alice. I cannot take your call right now. Please leave a message after the tone.',
    );
    assert.ok(greeting.length > 8000 * 4, 'a greeting of several seconds');
    const [human, machine] = await Promise.all([
      detect(server, app, a.peer, a.ep, answer(espeak(dir, 'hello', 'Hello?'), 500)),
      detect(server, app, b.peer, b.ep, answer(greeting, 500)),
    ]);
    assert.equal(human.event.result, 'human', JSON.stringify(human.event));
    assert.equal(machine.event.result, 'machine', JSON.stringify(machine.event));
    assert.ok(['LONGGREETING', 'MAXWORDS'].includes(machine.event.cause as string), String(machine.event.cause));
    // decided within the greeting, not at its end
    assert.ok(machine.sentMs < 500 + greeting.length / 8, `decided after ${machine.sentMs} ms of audio`);
  },
);

test(
  'amd: a recorded voicemail prompt (vm-intro) is machine (LONGGREETING)',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const { event } = await detect(server, app, peer, ep, answer(pcm8k(`${SOUNDS}/vm-intro.wav`), 300));
    assert.equal(event.result, 'machine');
    assert.equal(event.detail, 'LONGGREETING-1500-1500');
  },
);

test('amd: nobody speaks (silent RTP) is machine INITIALSILENCE at initial_silence; no RTP at all is notsure NOAUDIODATA', async (t) => {
  const { server, app } = await setup(t);
  const { peer, ep } = await peerEndpoint(t, server);
  const { event } = await detect(server, app, peer, ep, new Int16Array(8000 * 4), { initial_silence: 1500 });
  assert.deepEqual(
    [event.result, event.cause, event.detail],
    ['machine', 'INITIALSILENCE', 'INITIALSILENCE-1500-1500'],
  );
  assert.equal(event.analysed_ms, 1500);

  const quiet = await peerEndpoint(t, server);
  const t0 = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: `/endpoints/${quiet.ep.id}/amd`,
    payload: { total_analysis_time: 600 },
  });
  assert.equal(res.statusCode, 201, res.body);
  const e = await nextEvent(server, 'endpoint.amd', (x) => x.id === res.json().id);
  const waited = performance.now() - t0;
  assert.deepEqual([e.result, e.cause, e.detail], ['notsure', 'NOAUDIODATA', 'NOAUDIODATA-0']);
  assert.ok(waited >= 600, `gave up after ${waited.toFixed(0)} ms, before total_analysis_time`);
});

test(
  'amd: a gap in the RTP timeline (silence suppression after "hello") counts as silence, as Asterisk counts CNG',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const { peer, ep } = await peerEndpoint(t, server);
    const res = await app.inject({ method: 'POST', url: `/endpoints/${ep.id}/amd`, payload: {} });
    assert.equal(res.statusCode, 201, res.body);
    const event = nextEvent(server, 'endpoint.amd', (e) => e.id === res.json().id);
    const frames = pcmuFrames(answer(pcm8k(`${SOUNDS}/hello.wav`), 300, 0));
    await stream(peer, ep.rtp_port, frames, 0, () => false);
    // the sender stops (DTX): the next packet, one second of timestamps later, ends the gap
    peer.ts = (peer.ts + 8000) >>> 0;
    peer.send(ep.rtp_port, new Uint8Array(160).fill(0xff), 0, { marker: true });
    const e = await event;
    assert.deepEqual([e.result, e.detail], ['human', 'HUMAN-800-800']);
    // decided inside the gap: the word's end plus 800 ms, not at the packet after it
    assert.ok((e.analysed_ms as number) < frames.length * 20 + 1000, `analysed ${e.analysed_ms} ms`);
  },
);

test('amd: deleting the endpoint ends a running detection with hangup; DELETE cancels one; bad parameters are 400, unknown ids 404', async (t) => {
  const { server, app } = await setup(t);
  const { ep } = await peerEndpoint(t, server);
  const res = await app.inject({ method: 'POST', url: `/endpoints/${ep.id}/amd`, payload: {} });
  const id = res.json().id;
  const ended = nextEvent(server, 'endpoint.amd', (e) => e.id === id);
  await server.deleteEndpoint(ep.id);
  const e = await ended;
  assert.deepEqual([e.result, e.cause, e.detail], ['hangup', 'HANGUP', null]);

  const other = await peerEndpoint(t, server);
  // no body at all: every parameter takes its default
  const r2 = await app.inject({ method: 'POST', url: `/endpoints/${other.ep.id}/amd` });
  assert.equal(r2.statusCode, 201, r2.body);
  const del = await app.inject({ method: 'DELETE', url: `/endpoints/${other.ep.id}/amd/${r2.json().id}` });
  assert.equal(del.statusCode, 200, del.body);
  assert.deepEqual([del.json().state, del.json().result], ['done', 'cancelled']);

  const bad = await app.inject({ method: 'POST', url: `/endpoints/${other.ep.id}/amd`, payload: { greeting: 0 } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /greeting/);
  const unknown = await app.inject({ method: 'POST', url: '/endpoints/nope/amd', payload: {} });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'ENDPOINT_NOT_FOUND');
  const missing = await app.inject({ method: 'GET', url: `/endpoints/${other.ep.id}/amd/amd-nope` });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'AMD_NOT_FOUND');
});

test(
  'amd on a G.722 endpoint (16 kHz, encoded by ffmpeg): hello is human, a voicemail greeting machine',
  needs('ffmpeg', 'sox', 'espeak-ng', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const dir = tempDir(t, 'msc-amd-g722-');
    const g722Frames = (name: string, pcm: Int16Array): Uint8Array[] => {
      const raw = join(dir, `${name}.raw`);
      const out = join(dir, `${name}.g722`);
      execFileSync('sox', ['-t', 'raw', '-r', '8000', '-c', '1', '-e', 'signed', '-b', '16', '-', raw], {
        input: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength),
      });
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-f',
        's16le',
        '-ar',
        '8000',
        '-ac',
        '1',
        '-i',
        raw,
        '-ar',
        '16000',
        '-c:a',
        'g722',
        '-f',
        'g722',
        out,
      ]);
      const bytes = readFileSync(out);
      const frames: Uint8Array[] = [];
      for (let i = 0; i + 160 <= bytes.length; i += 160) frames.push(bytes.subarray(i, i + 160)); // 20 ms at 64 kbit/s
      return frames;
    };
    const run = async (frames: Uint8Array[]) => {
      const { peer, ep } = await peerEndpoint(t, server, 'g722');
      const res = await app.inject({ method: 'POST', url: `/endpoints/${ep.id}/amd`, payload: {} });
      assert.equal(res.statusCode, 201, res.body);
      let decided = false;
      const e = nextEvent(server, 'endpoint.amd', (x) => x.id === res.json().id, 15000).then((x) => {
        decided = true;
        return x;
      });
      await Promise.all([e, stream(peer, ep.rtp_port, frames, 9, () => decided)]);
      return e;
    };
    const [human, machine] = await Promise.all([
      run(g722Frames('hello', answer(pcm8k(`${SOUNDS}/hello.wav`), 400))),
      run(
        g722Frames(
          'vm',
          answer(
            espeak(dir, 'vm', 'You have reached the voicemail of Bob. Please leave a message after the tone.'),
            400,
          ),
        ),
      ),
    ]);
    assert.deepEqual([human.result, human.cause], ['human', 'HUMAN']);
    assert.equal(machine.result, 'machine', JSON.stringify(machine));
  },
);

/** The audio packets of an Ogg Opus file (RFC 7845), without OpusHead and OpusTags: Ogg pages read here. */
function oggOpusPackets(bytes: Buffer): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let partial: Buffer[] = [];
  for (let at = 0; at + 27 <= bytes.length; ) {
    assert.equal(bytes.toString('latin1', at, at + 4), 'OggS');
    const segments = bytes[at + 26]!;
    const table = bytes.subarray(at + 27, at + 27 + segments);
    let data = at + 27 + segments;
    for (const len of table) {
      partial.push(bytes.subarray(data, data + len));
      data += len;
      if (len < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    at = data;
  }
  return packets.slice(2);
}

test(
  'amd on an Opus endpoint (48 kHz, encoded by ffmpeg/libopus): hello is human, a voicemail greeting machine',
  needs('ffmpeg', 'sox', 'espeak-ng', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const dir = tempDir(t, 'msc-amd-opus-');
    const opusFrames = (name: string, pcm: Int16Array): Uint8Array[] => {
      const raw = join(dir, `${name}.raw`);
      const out = join(dir, `${name}.opus`);
      execFileSync('sox', ['-t', 'raw', '-r', '8000', '-c', '1', '-e', 'signed', '-b', '16', '-', raw], {
        input: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength),
      });
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-f',
        's16le',
        '-ar',
        '8000',
        '-ac',
        '1',
        '-i',
        raw,
        '-ar',
        '48000',
        '-c:a',
        'libopus',
        '-b:a',
        '32k',
        '-frame_duration',
        '20',
        out,
      ]);
      return oggOpusPackets(readFileSync(out));
    };
    const run = async (frames: Uint8Array[]) => {
      const peer = await RtpPeer.open();
      t.after(() => peer.close());
      const ep = await server.createEndpoint({ remote_sdp: peer.offer(['opus']) });
      const res = await app.inject({ method: 'POST', url: `/endpoints/${ep.id}/amd`, payload: {} });
      assert.equal(res.statusCode, 201, res.body);
      let decided = false;
      const e = nextEvent(server, 'endpoint.amd', (x) => x.id === res.json().id, 15000).then((x) => {
        decided = true;
        return x;
      });
      // 20 ms of a 48 kHz RTP clock per packet
      let i = 0;
      const start = performance.now();
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const due = Math.min(frames.length, Math.floor((performance.now() - start) / 20) + 1);
          for (; i < due && !decided; i++) peer.send(ep.rtp_port, frames[i]!, 111, { marker: i === 0, samples: 960 });
          if (i >= frames.length || decided) {
            clearInterval(timer);
            resolve();
          }
        }, 5);
      });
      return e;
    };
    const [human, machine] = await Promise.all([
      run(opusFrames('hello', answer(pcm8k(`${SOUNDS}/hello.wav`), 400))),
      run(
        opusFrames(
          'vm',
          answer(
            espeak(dir, 'vm', 'You have reached the voicemail of Carol. Please leave a message after the tone.'),
            400,
          ),
        ),
      ),
    ]);
    assert.deepEqual([human.result, human.cause], ['human', 'HUMAN']);
    assert.equal(machine.result, 'machine', JSON.stringify(machine));
  },
);

test(
  'amd accuracy on 12 answers (6 human-like, 6 machine-like) sent over RTP at once',
  needs('sox', 'espeak-ng', 'asterisk-sounds'),
  async (t) => {
    const { server, app } = await setup(t);
    const dir = tempDir(t, 'msc-amd-acc-');
    const samples = accuracySamples(dir);
    const results = await Promise.all(
      samples.map(async (s) => {
        const { peer, ep } = await peerEndpoint(t, server);
        const { event } = await detect(server, app, peer, ep, s.pcm);
        return { ...s, event };
      }),
    );
    let right = 0;
    const lines: string[] = [];
    for (const r of results) {
      const ok = r.event.result === r.truth;
      if (ok) right++;
      lines.push(
        `${ok ? 'ok  ' : 'MISS'} ${r.truth.padEnd(7)} ${r.name.padEnd(40)} → ${r.event.result} ${r.event.detail}`,
      );
    }
    t.diagnostic(`AMD accuracy ${right}/${results.length}\n${lines.join('\n')}`);
    // the clear cases must be right; the set as a whole at least 10 of 12 (README reports the figure)
    for (const r of results.filter((x) => /hello\.wav|vm-intro|voicemail greeting/.test(x.name)))
      assert.equal(r.event.result, r.truth, r.name);
    assert.ok(right >= 10, `accuracy ${right}/12:\n${lines.join('\n')}`);
    // and /metrics counts them by result (the server is shared: at least this test's)
    const body = (await server.metrics()).body;
    const count = (result: string): number => {
      const line = body
        .split('\n')
        .find((l) => l.startsWith('msc_amd_results_total{') && l.includes(`result="${result}"`));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const decided = (r: string) => results.filter((x) => x.event.result === r).length;
    assert.ok(
      count('human') >= decided('human') && decided('human') > 0,
      `msc_amd_results_total human ${count('human')}`,
    );
    assert.ok(count('machine') >= decided('machine') && decided('machine') > 0, `machine ${count('machine')}`);
  },
);

test(
  'amd over gRPC: StartAmd with parameters, the decision on the stream of events, GetAmd and StopAmd as REST',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server } = await setup(t);
    const grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
    const client = new GrpcTestClient(grpc.port);
    t.after(async () => {
      client.close();
      await grpc.close();
    });
    const { peer, ep } = await peerEndpoint(t, server);
    const started = await client.call('StartAmd', { endpoint_id: ep.id, after_greeting_silence: 600 });
    assert.equal(started.state, 'running');
    assert.equal(started.result, undefined, 'unset while running');
    assert.equal((started.parameters as Record<string, number>).after_greeting_silence, 600);
    assert.equal((started.parameters as Record<string, number>).greeting, 1500);
    let decided = false;
    const event = nextEvent(server, 'endpoint.amd', (e) => e.id === started.id, 15000).then((e) => {
      decided = true;
      return e;
    });
    await Promise.all([
      event,
      stream(peer, ep.rtp_port, pcmuFrames(answer(pcm8k(`${SOUNDS}/hello.wav`), 300)), 0, () => decided),
    ]);
    assert.equal((await event).detail, 'HUMAN-600-600');
    const got = await client.call('GetAmd', { id: started.id, endpoint_id: ep.id });
    assert.deepEqual([got.state, got.result, got.cause, got.detail], ['done', 'human', 'HUMAN', 'HUMAN-600-600']);

    const second = await client.call('StartAmd', { endpoint_id: ep.id });
    const stopped = await client.call('StopAmd', { id: second.id, endpoint_id: ep.id });
    assert.deepEqual([stopped.state, stopped.result, stopped.cause], ['done', 'cancelled', 'CANCELLED']);
    const bad = await client.call('StartAmd', { endpoint_id: ep.id, maximum_number_of_words: 0 }).then(
      () => null,
      (e: ServiceError) => e,
    );
    assert.equal(bad?.code, status.INVALID_ARGUMENT);
    const missing = await client.call('GetAmd', { id: 'amd-nope', endpoint_id: ep.id }).then(
      () => null,
      (e: ServiceError) => e,
    );
    assert.equal(missing?.code, status.NOT_FOUND);
  },
);
