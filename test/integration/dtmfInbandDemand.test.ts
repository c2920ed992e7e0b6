import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';
import { DtmfGenerator } from '../../src/media/dtmf/DtmfGenerator.ts';
import { tempDir } from '../helpers/audio.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/**
 * DTMF_INBAND=auto (the default): in-band DTMF detection runs on a leg without telephone-event
 * only while something consumes its digits (a flow, a barge-in playback, a recording with
 * terminate_on, a bridge converting to RFC 4733, a client that opted in); a plain bridged call
 * that nobody listens to decodes nothing for it. Checked with the DTMF engine's counters of
 * analysis windows and of endpoints under detection.
 */

const dir = tempDir({ after }, 'dtmf-demand-');

interface Work {
  windows: number;
  analysed: number;
  /** Endpoints whose audio is decoded for detection now. */
  detecting: number;
}

async function work(server: MediaServer): Promise<Work> {
  const w: Work = { windows: 0, analysed: 0, detecting: 0 };
  for (const m of await server.workerMetrics()) {
    const d = m.engines?.dtmf ?? {};
    w.windows += d.inbandWindows ?? 0;
    w.analysed += d.inbandAnalysed ?? 0;
    w.detecting += d.inbandEndpoints ?? 0;
  }
  return w;
}

async function peer(t: TestContext): Promise<RtpPeer> {
  const p = await RtpPeer.open();
  t.after(() => p.close());
  return p;
}

function ulaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToUlaw(pcm[i]!);
  return out;
}

/** `digits` as μ-law tones: 80 ms each at -10 dBm0 per frequency, 100 ms of silence after each. */
function tones(digits: string): Uint8Array {
  const parts = [...digits].map((d) =>
    ulaw(DtmfGenerator.toneFor(d, { durationMs: 80, pauseMs: 100, levelDbm0: -10 })),
  );
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const silence = (ms: number): Uint8Array => new Uint8Array(ms * 8).fill(0xff);

/** Sends μ-law `audio` from `from` to `port` as 20 ms PCMU packets on the peer's own schedule. */
async function sendUlaw(from: RtpPeer, port: number, audio: Uint8Array): Promise<number> {
  const start = performance.now();
  let n = 0;
  for (let i = 0; i + 160 <= audio.length; i += 160, n++) {
    const wait = n * 20 - (performance.now() - start);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b.writeUInt16BE(from.seq, 2);
    b.writeUInt32BE(from.ts >>> 0, 4);
    b.writeUInt32BE(from.ssrc, 8);
    b.set(audio.subarray(i, i + 160), 12);
    from.seq = (from.seq + 1) & 0xffff;
    from.ts = (from.ts + 160) >>> 0;
    from.sendRaw(port, b);
  }
  return n;
}

/** The `endpoint.dtmf` events of the server, as they come. */
function pressLog(t: TestContext, server: MediaServer): ServerEvent[] {
  const log: ServerEvent[] = [];
  t.after(server.events.subscribe((e) => e.type === 'endpoint.dtmf' && log.push(e)));
  return log;
}

const plainOffer = (p: RtpPeer): string => p.offer(['pcmu'], { telephoneEvent: false });

test('a plain bridged call that nobody listens to runs no in-band DTMF analysis at all; the same call with a listener reports the press', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'auto' });
  t.after(() => server.close());
  const presses = pressLog(t, server);
  const a = await peer(t);
  const b = await peer(t);
  const epA = await server.createEndpoint({ remote_sdp: plainOffer(a) });
  const epB = await server.createEndpoint({ remote_sdp: plainOffer(b) });
  await server.createBridge({ endpoint_a: epA.id, endpoint_b: epB.id });

  // Speech-level tones and silence through the bridge, both ways: relayed, never decoded for DTMF.
  const audio = new Uint8Array([...silence(200), ...tones('58'), ...silence(200)]);
  const [sentA, sentB] = await Promise.all([sendUlaw(a, epA.rtp_port, audio), sendUlaw(b, epB.rtp_port, audio)]);
  await Promise.all([b.waitFor(sentA - 2), a.waitFor(sentB - 2)]);
  assert.deepEqual(await work(server), { windows: 0, analysed: 0, detecting: 0 });
  assert.deepEqual(presses, [], 'no press reported: nobody consumed digits');

  // A consumer appears (what a flow's collect does): detection starts at once, a tone that begins
  // right after it is heard, and it stops when the consumer goes.
  const heard: string[] = [];
  const off = server.dtmf.onDigit(epA.id, (p) => heard.push(`${p.digit}/${p.source}`));
  await sendUlaw(a, epA.rtp_port, new Uint8Array([...tones('3'), ...silence(100)]));
  const deadline = performance.now() + 3000;
  while (heard.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(heard, ['3/inband']);
  const listening = await work(server);
  assert.equal(listening.detecting, 1, 'one leg (A) under detection');
  assert.ok(listening.windows > 0);
  off();
  // dtmf.listen {on: false} travels in order before the metrics request: detection is off now.
  const stopped = await work(server);
  assert.equal(stopped.detecting, 0);
  await sendUlaw(a, epA.rtp_port, silence(200));
  await b.waitFor(b.received.length + 5).catch(() => undefined);
  assert.equal((await work(server)).windows, stopped.windows, 'no window once the listener left');
});

test('a collect flow on a plain leg gets in-band digits pressed as it starts; detection ends with the flow', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'auto' });
  t.after(() => server.close());
  const flowsDir = path.join(dir, 'flows');
  mkdirSync(flowsDir, { recursive: true });
  writeFileSync(
    path.join(flowsDir, 'pin.yaml'),
    `name: pin
start: ask
steps:
  ask:
    type: collect
    min_digits: 1
    max_digits: 8
    terminator: "#"
    first_digit_timeout_ms: 10000
    inter_digit_timeout_ms: 5000
    variable: pin
    next: done
  done:
    type: return
`,
  );
  const flows = new FlowService({
    engines: MediaFlowEngines.forServer(server),
    emit: server.events.forFlows(),
    dir: flowsDir,
  });
  flows.loadDir();
  t.after(() => flows.close());
  const caller = await peer(t);
  const ep = await server.createEndpoint({ remote_sdp: plainOffer(caller) });
  await sendUlaw(caller, ep.rtp_port, silence(100)); // latched, nobody listening yet
  assert.equal((await work(server)).windows, 0);

  const session = flows.start(ep.id, 'pin', {});
  const done = nextEvent(server, 'flow.completed', (e) => e.session_id === session.id, 15_000);
  // The first tone starts in the same tick as the flow.
  await sendUlaw(caller, ep.rtp_port, new Uint8Array([...tones('42#'), ...silence(100)]));
  const completed = await done;
  assert.equal((completed.variables as Record<string, unknown>).pin, '42');
  // The flow's listener goes as the session ends: the worker stops decoding.
  const until = performance.now() + 3000;
  while ((await work(server)).detecting !== 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await work(server)).detecting, 0);
});

test('barge-in and terminate_on on a plain leg hear in-band digits, and only while they run', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'auto', RECORDINGS_DIR: path.join(dir, 'recordings') });
  t.after(() => server.close());
  const caller = await peer(t);
  const ep = await server.createEndpoint({ remote_sdp: plainOffer(caller) });

  const pb = await server.playback.start({ endpointId: ep.id, media: ['prompt:hold-music'], bargeIn: true });
  assert.equal((await work(server)).detecting, 1, 'a barge-in playback listens');
  const finished = nextEvent(server, 'playback.finished', (e) => e.playback_id === pb.id);
  await sendUlaw(caller, ep.rtp_port, new Uint8Array([...silence(60), ...tones('7')]));
  const f = await finished;
  assert.equal(f.reason, 'barge_in');
  assert.equal(f.digit, '7');
  assert.equal((await work(server)).detecting, 0, 'the playback ended: nobody listens');

  // A playback without barge-in consumes no digits.
  const quiet = await server.playback.start({ endpointId: ep.id, media: ['prompt:hold-music'] });
  assert.equal((await work(server)).detecting, 0);
  await server.playback.stop(quiet.id);

  const rec = await server.recordings.start({ endpointId: ep.id, format: 'wav', terminateOn: '#' });
  assert.equal((await work(server)).detecting, 1, 'a recording with terminate_on listens');
  const recDone = nextEvent(server, 'recording.finished', (e) => e.recording_id === rec.id);
  await sendUlaw(caller, ep.rtp_port, new Uint8Array([...silence(300), ...tones('#')]));
  const r = await recDone;
  assert.equal(r.cause, 'dtmf');
  assert.equal((await work(server)).detecting, 0, 'the recording ended: nobody listens');
});

test('a bridge from a plain leg to a telephone-event leg converts in-band digits to RFC 4733; detection ends with the bridge', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'auto' });
  t.after(() => server.close());
  const a = await peer(t);
  const b = await peer(t);
  const c = await peer(t);
  const te = await server.createEndpoint({ remote_sdp: a.offer(['pcmu']) });
  const plain = await server.createEndpoint({ remote_sdp: plainOffer(b) });
  const plain2 = await server.createEndpoint({ remote_sdp: plainOffer(c) });
  const pt = Number(/a=rtpmap:(\d+) telephone-event\/8000/.exec(te.sdp)![1]);
  assert.equal((await work(server)).detecting, 0);

  const bridge = await server.createBridge({ endpoint_a: te.id, endpoint_b: plain.id });
  assert.equal((await work(server)).detecting, 1, 'the plain leg of a converting bridge listens');
  await sendUlaw(b, plain.rtp_port, new Uint8Array([...tones('9'), ...silence(100)]));
  const ends = () => a.received.filter((p) => p.pt === pt && (p.payload[1]! & 0x80) !== 0);
  for (let n = a.received.length + 1; ends().length < 3; n = a.received.length + 1) await a.waitFor(n, 5000);
  assert.deepEqual([...new Set(ends().map((p) => p.payload[0]))], [9], 'digit 9 as RFC 4733 events on the other leg');
  await server.deleteBridge(bridge.id);
  assert.equal((await work(server)).detecting, 0, 'no bridge, no conversion, no detection');

  // Two plain legs convert nothing: no detection.
  await server.createBridge({ endpoint_a: plain.id, endpoint_b: plain2.id });
  assert.equal((await work(server)).detecting, 0);
});

test('a client opts in to in-band DTMF per endpoint over REST (POST and PATCH /endpoints dtmf.inband) and gets endpoint.dtmf from the event stream', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'auto' });
  t.after(() => server.close());
  const app: FastifyInstance = await buildApp({ control: server, config: server.config, logger: silentLogger });
  t.after(() => app.close());
  await app.ready();
  const presses = pressLog(t, server);
  const caller = await peer(t);
  const res = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: plainOffer(caller), dtmf: { inband: true } },
  });
  assert.equal(res.statusCode, 201, res.body);
  const ep = res.json<{ id: string; rtp_port: number }>();
  assert.equal((await work(server)).detecting, 1);
  await sendUlaw(caller, ep.rtp_port, new Uint8Array([...tones('5'), ...silence(100)]));
  const deadline = performance.now() + 3000;
  while (presses.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    presses.map((e) => [e.endpoint_id, e.digit, e.source]),
    [[ep.id, '5', 'inband']],
  );

  // Back to the default (null): nobody consumes, detection stops.
  const patched = await app.inject({
    method: 'PATCH',
    url: `/endpoints/${ep.id}`,
    payload: { dtmf: { inband: null } },
  });
  assert.equal(patched.statusCode, 200, patched.body);
  assert.equal((await work(server)).detecting, 0);
  // A bad value is refused by the schema.
  const bad = await app.inject({ method: 'PATCH', url: `/endpoints/${ep.id}`, payload: { dtmf: { inband: 'yes' } } });
  assert.equal(bad.statusCode, 400);
});

test('DTMF_INBAND=plain listens on every leg without telephone-event, as before demand counting', async (t) => {
  const server = await startServer({ DTMF_INBAND: 'plain' });
  t.after(() => server.close());
  const presses = pressLog(t, server);
  const caller = await peer(t);
  const withTe = await peer(t);
  const ep = await server.createEndpoint({ remote_sdp: plainOffer(caller) });
  await server.createEndpoint({ remote_sdp: withTe.offer(['pcmu']) });
  assert.equal((await work(server)).detecting, 1, 'the plain leg only');
  await sendUlaw(caller, ep.rtp_port, new Uint8Array([...tones('1'), ...silence(100)]));
  const deadline = performance.now() + 3000;
  while (presses.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    presses.map((e) => [e.digit, e.source]),
    [['1', 'inband']],
  );
});
