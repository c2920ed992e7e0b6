import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { EndpointInfo } from '../../src/control/types.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { run } from '../helpers/proc.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { Baresip, type BaresipOptions } from '../helpers/sip/Baresip.ts';
import { SipUas, type SipCall } from '../helpers/sip/SipUas.ts';
import { chunkedCorrelation, decodeWithFfmpeg, ffprobe, rms, tonePower } from '../helpers/audio.ts';
import { SPEECH_WAV } from './recordingHelpers.ts';
import { needs } from '../helpers/peers.ts';

/**
 * A real softphone calls the product: baresip (Debian package) dials the SIP test shim, which
 * drives the REST API as a B2BUA would (INVITE → POST /endpoints, re-INVITE → PATCH, BYE →
 * DELETE), over real UDP on 127.0.0.1. Baresip's microphone is a WAV file; what it hears and
 * what it sends are dumped to WAV files and checked against what the server played and recorded.
 */

/** The caller's tone and the tone we play, far apart so either is told from the other. */
const CALLER_HZ = 600;
const OUR_HZ = 1000;

interface Rig {
  dir: string;
  server: MediaServer;
  app: FastifyInstance;
  uas: SipUas;
}

/** Flows the tests hand calls to. */
const FLOWS: Record<string, string> = {
  // an account number: digits until # (first key within 20 s, then 5 s between keys)
  'account-number': `
name: account-number
start: ask
steps:
  ask:
    type: collect
    min_digits: 1
    max_digits: 16
    terminator: "#"
    first_digit_timeout_ms: 20000
    inter_digit_timeout_ms: 5000
    variable: account
    next: done
  done:
    type: return
`,
  // a mailbox: record straight away until #, 5 s of silence, or the caller hangs up
  'leave-message': `
name: leave-message
start: record
steps:
  record:
    type: record
    path: "voicemail/{{ session_id }}.wav"
    format: wav
    max_duration_ms: 30000
    silence_timeout_ms: 5000
    terminator: "#"
    beep: false
    variable: message
    next: done
  done:
    type: hangup
`,
  // a greeting, then the beep (RFC-less but universal: the caller speaks after it), until #
  'greet-and-record': `
name: greet-and-record
start: greeting
steps:
  greeting:
    type: play
    media: tone:440:300
    next: record
  record:
    type: record
    path: "voicemail/{{ session_id }}.wav"
    format: wav
    max_duration_ms: 30000
    terminator: "#"
    beep: true
    variable: message
    next: done
  done:
    type: hangup
`,
};

/**
 * One server, API, flows and SIP shim for the whole file (a server start costs seconds on a busy
 * machine); every test places its own call with its own baresip.
 */
let shared: Promise<Rig> | null = null;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function rig(): Promise<Rig> {
  shared ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msc-baresip-test-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const flowsDir = path.join(dir, 'flows');
    mkdirSync(flowsDir);
    for (const [name, yaml] of Object.entries(FLOWS)) writeFileSync(path.join(flowsDir, `${name}.yaml`), yaml);
    // real calls: the product's silence policy (the test helper turns it off by default)
    const server = await startServer({ RECORDINGS_DIR: path.join(dir, 'recordings'), SILENCE_FILL: 'cn' });
    cleanups.push(() => server.close());
    const flows = new FlowService({
      engines: MediaFlowEngines.forServer(server),
      emit: server.events.forFlows(),
      dir: flowsDir,
    });
    assert.deepEqual(flows.loadDir().problems, []);
    cleanups.push(() => flows.close());
    const app = await buildApp({ control: server, config: server.config, logger: silentLogger, flows });
    cleanups.push(() => app.close());
    const uas = await SipUas.listen({ app, events: server.events });
    cleanups.push(() => uas.close());
    return { dir, server, app, uas };
  })();
  return shared;
}

/** Writes a WAV (s16 mono) with sox: `effects` after `synth`, e.g. ['synth', '20', 'sine', '600']. */
async function soxWav(file: string, rate: number, ...effects: string[]): Promise<string> {
  const r = await run('sox', [
    '-n',
    '-r',
    String(rate),
    '-c',
    '1',
    '-b',
    '16',
    '-e',
    'signed-integer',
    file,
    ...effects,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  return file;
}

/** Starts baresip, dials the shim and resolves once both sides have the call established. */
async function call(t: TestContext, r: Rig, opts: BaresipOptions): Promise<{ phone: Baresip; call: SipCall }> {
  const phone = await Baresip.start(t, opts);
  const answered = r.uas.nextCall();
  await phone.dial(r.uas.uri());
  const c = await answered;
  await c.established;
  return { phone, call: c };
}

async function endpoint(r: Rig, id: string): Promise<EndpointInfo> {
  const res = await r.app.inject({ method: 'GET', url: `/endpoints/${id}` });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<EndpointInfo>();
}

/** Polls the endpoint until `pred` holds (stats move with the media clock, not with events). */
async function until(
  r: Rig,
  id: string,
  pred: (e: EndpointInfo) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<EndpointInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await endpoint(r, id);
    if (pred(e)) return e;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms (${JSON.stringify(e.stats)}, direction ${e.direction})`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The ratio of the power at `hz` to the power at `other` over x (both Goertzel). */
function dominance(x: Int16Array, hz: number, other: number, rate: number): number {
  return tonePower(x, hz, rate) / Math.max(1e-9, tonePower(x, other, rate));
}

function channel(x: Int16Array, ch: number, channels: number): Int16Array {
  const out = new Int16Array(Math.floor(x.length / channels));
  for (let i = 0; i < out.length; i++) out[i] = x[i * channels + ch]!;
  return out;
}

/**
 * The call connects with `codec`, and audio flows both ways: the caller's tone is in our stereo
 * recording's received channel, our tone is in what baresip heard.
 */
async function twoWayAudio(
  t: TestContext,
  codecs: string[] | undefined,
  codec: string,
  rate: number,
): Promise<SipCall> {
  const r = await rig();
  const source = await soxWav(
    path.join(r.dir, `tone-${rate}.wav`),
    rate,
    'synth',
    '20',
    'sine',
    String(CALLER_HZ),
    'vol',
    '0.4',
  );
  const { phone, call: c } = await call(t, r, { source, sampleRate: rate, ...(codecs ? { codecs } : {}) });
  const ep = await endpoint(r, c.endpointId);
  assert.equal(
    ep.codec?.name.toLowerCase(),
    codec.toLowerCase(),
    `negotiated codec\noffer:\n${c.offers[0]}\nanswer:\n${c.answers[0]}`,
  );
  assert.equal(ep.direction, 'sendrecv');
  // RFC 3264 lets the phone send any format we answer, so we answer none we would drop: the
  // codec in use, telephone-event, comfort noise
  const answered = /^m=audio \d+ RTP\/AVP ([\d ]+)$/m.exec(c.answers[0]!)?.[1]?.split(' ').map(Number) ?? [];
  const cn = [...c.answers[0]!.matchAll(/^a=rtpmap:(\d+) CN\//gm)].map((m) => Number(m[1]));
  const accepted = [ep.codec?.payload_type, ep.telephone_event?.payload_type, ...cn];
  assert.deepEqual(
    answered.filter((pt) => !accepted.includes(pt)),
    [],
    `answered formats we do not accept\n${c.answers[0]}`,
  );

  const rec = await r.app.inject({
    method: 'POST',
    url: '/recordings',
    payload: { endpoint_id: c.endpointId, format: 'wav', channels: 'stereo' },
  });
  assert.equal(rec.statusCode, 201, rec.body);
  const played = nextEvent(r.server, 'playback.finished', (e) => e.endpoint_id === c.endpointId, 15_000);
  const pb = await r.app.inject({
    method: 'POST',
    url: '/playback',
    payload: { endpoint_id: c.endpointId, media: [`tone:${OUR_HZ}:1500`] },
  });
  assert.equal(pb.statusCode, 201, pb.body);
  await played;
  const stopped = await r.app.inject({ method: 'DELETE', url: `/recordings/${rec.json<{ id: string }>().id}` });
  assert.equal(stopped.statusCode, 200, stopped.body);
  const file = stopped.json<{ path: string }>().path;

  const stats = (await endpoint(r, c.endpointId)).stats;
  await phone.command('hangup');
  await c.ended;
  const { heard } = await phone.quit();
  assert.ok(heard, `baresip wrote what it heard\n${phone.output.slice(-2000)}`);

  // what we received from the phone: its tone, and nothing lost on a loopback call
  const recorded = await decodeWithFfmpeg(file, 8000, 2);
  const fromPhone = channel(recorded, 0, 2);
  assert.ok(rms(fromPhone) > 1000, `the caller is audible in our recording (rms ${rms(fromPhone).toFixed(0)})`);
  assert.ok(
    dominance(fromPhone, CALLER_HZ, OUR_HZ, 8000) > 100,
    `the received channel is the caller's ${CALLER_HZ} Hz`,
  );
  assert.equal(stats.packets_lost, 0, `no loss on loopback: ${JSON.stringify(stats)}`);
  // libre opens with a lone RTCP APP "PING" packet (not a compound starting with SR/RR, RFC 3550
  // §6.1), counted as malformed_rtcp; no RTP may be dropped
  const rtpDrops = Object.entries(stats.dropped).filter(([reason, n]) => reason !== 'malformed_rtcp' && n > 0);
  assert.deepEqual(rtpDrops, [], `no RTP dropped: ${JSON.stringify(stats.dropped)}`);

  // what the phone heard: our tone, for about as long as we played it
  const atPhone = await decodeWithFfmpeg(heard, 8000);
  const loud = loudMs(atPhone, 8000);
  assert.ok(dominance(atPhone, OUR_HZ, CALLER_HZ, 8000) > 100, `baresip heard our ${OUR_HZ} Hz tone`);
  assert.ok(loud >= 1000 && loud <= 2000, `baresip heard ${loud} ms of the 1500 ms tone`);
  return c;
}

/** Where the sound in `x` (8 kHz) begins and ends, in ms, to 10 ms (blocks louder than -40 dBFS). */
function voicedSpanMs(x: Int16Array): { from: number; to: number } {
  let from = -1;
  let to = -1;
  for (let i = 0, k = 0; i + 80 <= x.length; i += 80, k++) {
    if (rms(x, i, i + 80) < 300) continue;
    if (from < 0) from = k * 10;
    to = (k + 1) * 10;
  }
  assert.ok(from >= 0, 'no sound at all');
  return { from, to };
}

/** The session version of an SDP's o= line. */
function sdpVersion(sdp: string): number {
  return Number(/^o=\S+ \S+ (\d+)/m.exec(sdp)?.[1]);
}

/** How many ms of `x` are in 20 ms blocks louder than -30 dBFS. */
function loudMs(x: Int16Array, rate: number): number {
  const block = rate / 50;
  let n = 0;
  for (let i = 0; i + block <= x.length; i += block) if (rms(x, i, i + block) > 1000) n++;
  return n * 20;
}

test(
  'baresip default offer (Opus, G.722, PCMU, PCMA, telephone-event/8000): the call connects, audio flows both ways',
  needs('baresip', 'sox', 'ffmpeg'),
  async (t) => {
    const c = await twoWayAudio(t, undefined, 'opus', 48000);
    assert.match(c.offers[0]!, /^m=audio \d+ RTP\/AVP 96 9 0 8 101\r?$/m, "the offer is baresip's default");
    assert.match(c.offers[0]!, /a=rtpmap:96 opus\/48000\/2/);
    assert.match(c.offers[0]!, /a=rtpmap:101 telephone-event\/8000/);
  },
);

// baresip's account parameter audio_codecs needs name/rate/channels (a bare "G722" means G722/8000/1)
for (const [codec, rate] of [
  ['G722', 16000],
  ['PCMU', 8000],
  ['PCMA', 8000],
] as const) {
  test(
    `baresip offering only ${codec}: the call connects, audio flows both ways`,
    needs('baresip', 'sox', 'ffmpeg'),
    async (t) => {
      await twoWayAudio(t, [`${codec}/${rate}/1`], codec, rate);
    },
  );
}

/** The endpoint.dtmf digits of one endpoint, as they are reported from now on. */
function digitsOf(t: TestContext, r: Rig, endpointId: string): string[] {
  const digits: string[] = [];
  t.after(
    r.server.events.subscribe((e) => {
      if (e.type === 'endpoint.dtmf' && e.endpoint_id === endpointId) digits.push(String(e.digit));
    }),
  );
  return digits;
}

for (const [offer, codecs, rate] of [
  ['PCMU', ['PCMU/8000/1'], 8000],
  ['its default offer, Opus', undefined, 48000],
] as const) {
  test(
    `baresip (${offer}): RFC 4733 key presses reach a flow's collect exactly as pressed`,
    needs('baresip', 'sox'),
    async (t) => {
      const r = await rig();
      const source = await soxWav(
        path.join(r.dir, `quiet-${rate}.wav`),
        rate,
        'synth',
        '20',
        'sine',
        String(CALLER_HZ),
        'vol',
        '0.01',
      );
      const { phone, call: c } = await call(t, r, {
        source,
        sampleRate: rate,
        ...(codecs ? { codecs: [...codecs] } : {}),
      });
      assert.match(
        c.answers[0]!,
        /a=rtpmap:\d+ telephone-event\/8000/,
        'we answer telephone-event at 8 kHz, as offered',
      );
      const heard = digitsOf(t, r, c.endpointId);
      const session = await r.uas.startFlow(c, 'account-number');
      const done = nextEvent(r.server, 'flow.completed', (e) => e.session_id === session, 30_000);
      await phone.press('44170013#');
      // '#' ends the collect at once: the flow completes as soon as the last key arrives
      const completed = await Promise.race([
        done,
        new Promise<never>((_, reject) =>
          setTimeout(
            () =>
              reject(
                new Error(
                  `the flow did not complete within 10 s of the last key; keys reported: [${heard.join(', ')}]`,
                ),
              ),
            10_000,
          ),
        ),
      ]);
      assert.equal((completed.outcome as { action: string }).action, 'completed', JSON.stringify(completed));
      assert.equal((completed.variables as Record<string, unknown>).account, '44170013');
      assert.deepEqual(heard, [...'44170013#'], 'each key reported once, in order');
      // key presses are neither dropped as an unknown payload type nor counted as lost audio
      const { stats } = await endpoint(r, c.endpointId);
      assert.equal(stats.dropped.unknown_payload_type ?? 0, 0, JSON.stringify(stats.dropped));
      assert.equal(stats.packets_lost, 0, JSON.stringify(stats));
      await phone.command('hangup');
      await c.ended;
    },
  );
}

test(
  'baresip (PCMU): while a flow waits for keys the line is not silent (comfort noise or encoded silence)',
  needs('baresip', 'sox', 'ffmpeg'),
  async (t) => {
    const r = await rig();
    const source = await soxWav(
      path.join(r.dir, 'quiet-8000.wav'),
      8000,
      'synth',
      '20',
      'sine',
      String(CALLER_HZ),
      'vol',
      '0.01',
    );
    const { phone, call: c } = await call(t, r, { source, sampleRate: 8000, codecs: ['PCMU/8000/1'] });
    const before = (await endpoint(r, c.endpointId)).stats.packets_sent;
    await r.uas.startFlow(c, 'account-number');
    // the collect plays nothing; a PBX or SBC with an RTP inactivity timer drops a call we stop
    // sending on, so we keep sending: 25 packets (0.5 s) within a bound that holds under load
    await until(
      r,
      c.endpointId,
      (e) => e.stats.packets_sent >= before + 25,
      'RTP keeps flowing while the flow waits for keys',
      5000,
    );
    await phone.command('hangup');
    await c.ended;
    const { heard } = await phone.quit();
    assert.ok(heard, 'baresip decoded what we sent');
    const atPhone = await decodeWithFfmpeg(heard, 8000);
    assert.ok(atPhone.length >= 0.4 * 8000, `baresip heard ${(atPhone.length / 8).toFixed(0)} ms from us`);
    assert.ok(rms(atPhone) < 300, `and it is quiet (rms ${rms(atPhone).toFixed(0)})`);
  },
);

test(
  'baresip hold and resume by re-INVITE: our direction follows the offer, media stops and resumes',
  needs('baresip', 'sox', 'ffmpeg'),
  async (t) => {
    const r = await rig();
    const source = await soxWav(
      path.join(r.dir, 'tone-8000.wav'),
      8000,
      'synth',
      '20',
      'sine',
      String(CALLER_HZ),
      'vol',
      '0.4',
    );
    const { phone, call: c } = await call(t, r, { source, sampleRate: 8000, codecs: ['PCMU/8000/1'] });
    // music to the caller all along: what we send shows whether we hold the call
    const pb = await r.app.inject({
      method: 'POST',
      url: '/playback',
      payload: { endpoint_id: c.endpointId, media: [`tone:${OUR_HZ}:1000`], loop: true },
    });
    assert.equal(pb.statusCode, 201, pb.body);
    await until(
      r,
      c.endpointId,
      (e) => e.stats.packets_sent >= 25 && e.stats.packets_received >= 25,
      'audio both ways before hold',
    );

    const held = r.uas.nextReinvite(c);
    assert.equal((await phone.command('hold')).ok, true);
    const onHold = await held;
    assert.match(c.offers.at(-1)!, /a=sendonly/, 'baresip holds with a=sendonly');
    assert.equal(onHold.direction, 'recvonly', 'we answer recvonly and stop sending');
    assert.match(c.answers.at(-1)!, /a=recvonly/);
    assert.equal(
      sdpVersion(c.answers.at(-1)!),
      sdpVersion(c.answers[0]!) + 1,
      'a changed answer has the next o= version (RFC 3264 §8)',
    );
    // baresip sends nothing while it holds (its stream is muted), so the window is wall-clock: a
    // second in which an active call sends 50 packets (checked below, after the resume) and a held
    // one none. Load can only make this pass more slowly, never fail wrongly.
    const heldAt = await endpoint(r, c.endpointId);
    await new Promise((res) => setTimeout(res, 1000));
    const heldEnd = await endpoint(r, c.endpointId);
    assert.ok(
      heldEnd.stats.packets_sent - heldAt.stats.packets_sent <= 1,
      `no RTP to a held caller (${heldEnd.stats.packets_sent - heldAt.stats.packets_sent} sent)`,
    );

    const resumed = r.uas.nextReinvite(c);
    assert.equal((await phone.command('resume')).ok, true);
    const active = await resumed;
    assert.match(c.offers.at(-1)!, /a=sendrecv/);
    assert.equal(active.direction, 'sendrecv');
    await until(
      r,
      c.endpointId,
      (e) =>
        e.stats.packets_sent >= heldEnd.stats.packets_sent + 25 &&
        e.stats.packets_received >= heldEnd.stats.packets_received + 25,
      'media both ways after the resume re-INVITE',
    );

    await phone.command('hangup');
    await c.ended;
    const { heard } = await phone.quit();
    assert.ok(heard);
    // the last half second baresip heard (after the resume) is our music again
    const atPhone = await decodeWithFfmpeg(heard, 8000);
    const tail = atPhone.subarray(Math.max(0, atPhone.length - 4000));
    assert.ok(
      rms(tail) > 1000 && dominance(tail, OUR_HZ, CALLER_HZ, 8000) > 100,
      `baresip hears us after the resume (rms ${rms(tail).toFixed(0)})`,
    );
  },
);

for (const [offer, codecs, rate] of [
  ['PCMU', ['PCMU/8000/1'], 8000],
  ['its default offer, Opus', undefined, 48000],
] as const) {
  test(
    `baresip (${offer}) leaves a voicemail: the recording is the audio it sent`,
    needs('baresip', 'sox', 'ffmpeg', 'ffprobe', 'asterisk-sounds'),
    async (t) => {
      const r = await rig();
      // the message: 1 s of silence, 1.8 s of speech, 0.8 s of a 440 Hz tone; baresip hangs up at its end
      const speech = path.join(r.dir, `speech-${rate}.wav`);
      const conv = await run('sox', [
        SPEECH_WAV,
        '-r',
        String(rate),
        '-c',
        '1',
        '-b',
        '16',
        '-e',
        'signed-integer',
        speech,
      ]).done;
      assert.equal(conv.code, 0, conv.stderr);
      const lead = await soxWav(path.join(r.dir, `lead-${rate}.wav`), rate, 'trim', '0', '1');
      const tone = await soxWav(
        path.join(r.dir, `tone440-${rate}.wav`),
        rate,
        'synth',
        '0.8',
        'sine',
        '440',
        'vol',
        '0.4',
      );
      const message = path.join(r.dir, `message-${rate}.wav`);
      const cat = await run('sox', [lead, speech, tone, message]).done;
      assert.equal(cat.code, 0, cat.stderr);

      const { phone, call: c } = await call(t, r, {
        source: message,
        sampleRate: rate,
        ...(codecs ? { codecs: [...codecs] } : {}),
      });
      const session = await r.uas.startFlow(c, 'leave-message');
      const done = nextEvent(r.server, 'flow.completed', (e) => e.session_id === session, 30_000);
      assert.equal(await c.ended, 'caller-bye', 'baresip hangs up when its message ends');
      const completed = await done;
      const result = (completed.variables as { message?: { path: string; duration_ms: number; cause: string } })
        .message;
      assert.ok(result, `the message is kept: ${JSON.stringify(completed)}`);
      const { sent } = await phone.quit();
      assert.ok(sent, 'baresip wrote what it sent');

      const file = path.isAbsolute(result.path) ? result.path : path.join(r.dir, 'recordings', result.path);
      const info = await ffprobe(file);
      assert.equal(info.codec, 'pcm_s16le');
      const recorded = await decodeWithFfmpeg(file, 8000);
      const reference = await decodeWithFfmpeg(sent, 8000);
      // the recording starts when the flow runs (around the ACK, before or after baresip's first
      // packet) and ends with the BYE: from the first sound to the end of the closing tone it must
      // hold exactly what was sent (a codec's delay shifts both ends alike)
      const spanRef = voicedSpanMs(reference);
      const spanRec = voicedSpanMs(recorded);
      t.diagnostic(
        `sound from ${spanRec.from} to ${spanRec.to} ms in the recording, ${spanRef.from} to ${spanRef.to} ms in what was sent`,
      );
      const lengthRef = spanRef.to - spanRef.from;
      const lengthRec = spanRec.to - spanRec.from;
      assert.ok(
        Math.abs(lengthRec - lengthRef) <= 40,
        `the message's sound lasts ${lengthRec} ms in the recording, ${lengthRef} ms as sent`,
      );
      assert.ok(
        Math.abs(result.duration_ms - recorded.length / 8) <= 40,
        `duration_ms ${result.duration_ms} is the file's ${recorded.length / 8} ms`,
      );
      const toneAt = recorded.subarray((spanRec.to - 700) * 8, (spanRec.to - 100) * 8);
      assert.ok(
        dominance(toneAt, 440, OUR_HZ, 8000) > 100 && rms(toneAt) > 1000,
        'the closing tone is in the recording',
      );
      const corr = chunkedCorrelation(reference, recorded);
      assert.ok(corr.chunks >= 15, `voiced 100 ms chunks compared: ${corr.chunks}`);
      // G.711 keeps the waveform; Opus keeps the sound (its phase and fine structure move)
      const floor = rate === 8000 ? 0.98 : 0.85;
      t.diagnostic(
        `recorded ${result.duration_ms} ms; median correlation ${corr.median.toFixed(3)} over ${corr.chunks} chunks`,
      );
      assert.ok(
        corr.median >= floor,
        `the recording follows what baresip sent: median correlation ${corr.median.toFixed(3)} (>= ${floor})`,
      );
    },
  );
}

test(
  'baresip hears the greeting then the beep, presses # to end its message: the flow hangs up and baresip gets our BYE',
  needs('baresip', 'sox', 'ffmpeg'),
  async (t) => {
    const r = await rig();
    const source = await soxWav(
      path.join(r.dir, 'tone-8000.wav'),
      8000,
      'synth',
      '20',
      'sine',
      String(CALLER_HZ),
      'vol',
      '0.4',
    );
    const { phone, call: c } = await call(t, r, { source, sampleRate: 8000, codecs: ['PCMU/8000/1'] });
    const recording = nextEvent(r.server, 'recording.started', (e) => e.endpoint_id === c.endpointId, 10_000);
    const session = await r.uas.startFlow(c, 'greet-and-record');
    const done = nextEvent(r.server, 'flow.completed', (e) => e.session_id === session, 20_000);
    await recording;
    // a second of message (measured by what we received), then the terminator
    const from = (await endpoint(r, c.endpointId)).stats.packets_received;
    await until(r, c.endpointId, (e) => e.stats.packets_received >= from + 50, 'the caller speaks');
    const closed = phone.waitEvent('CALL_CLOSED', { from: phone.events.length, timeoutMs: 10_000 });
    await phone.press('#');
    const completed = await done;
    const result = (completed.variables as { message?: { duration_ms: number; cause: string } }).message;
    assert.equal(result?.cause, 'terminator', JSON.stringify(completed));
    assert.ok(result.duration_ms >= 900, `recorded ${result.duration_ms} ms before the #`);
    assert.equal((completed.outcome as { action: string }).action, 'hangup', JSON.stringify(completed.outcome));
    // the hangup step deleted the endpoint; the shim ends the dialog with BYE, and baresip agrees
    assert.equal(await c.ended, 'our-bye');
    await closed;

    // what baresip heard: the 300 ms greeting, then the 200 ms 1 kHz beep after it
    const { heard } = await phone.quit();
    assert.ok(heard);
    const atPhone = await decodeWithFfmpeg(heard, 8000);
    const greeting = blocksOf(atPhone, 440, 8000);
    const beep = blocksOf(atPhone, OUR_HZ, 8000);
    assert.ok(greeting.length * 20 >= 200, `baresip heard the greeting (${greeting.length * 20} ms of 440 Hz)`);
    assert.ok(
      beep.length * 20 >= 140 && beep.length * 20 <= 260,
      `baresip heard the 200 ms beep (${beep.length * 20} ms of 1 kHz)`,
    );
    assert.ok(beep[0]! > greeting.at(-1)!, 'after the greeting');
  },
);

/** Indexes of the loud 20 ms blocks of `x` in which `hz` dominates. */
function blocksOf(x: Int16Array, hz: number, rate: number): number[] {
  const block = rate / 50;
  const out: number[] = [];
  for (let i = 0, k = 0; i + block <= x.length; i += block, k++) {
    const b = x.subarray(i, i + block);
    if (rms(b) > 1000 && tonePower(b, hz, rate) > (0.5 * rms(b) ** 2) / 4) out.push(k);
  }
  return out;
}

test(
  'two baresip calls bridged (Opus ↔ PCMU, transcoded): each hears the other',
  needs('baresip', 'sox', 'ffmpeg'),
  async (t) => {
    const r = await rig();
    const toneA = await soxWav(
      path.join(r.dir, 'tone-48000.wav'),
      48000,
      'synth',
      '20',
      'sine',
      String(CALLER_HZ),
      'vol',
      '0.4',
    );
    const toneB = await soxWav(
      path.join(r.dir, 'tone-b-8000.wav'),
      8000,
      'synth',
      '20',
      'sine',
      String(OUR_HZ),
      'vol',
      '0.4',
    );
    const a = await call(t, r, { source: toneA, sampleRate: 48000 });
    const b = await call(t, r, { source: toneB, sampleRate: 8000, codecs: ['PCMU/8000/1'] });
    const bridgeId = await r.uas.bridge(a.call, b.call);
    const bridge = await r.app.inject({ method: 'GET', url: `/bridges/${bridgeId}` });
    assert.equal(bridge.json<{ mode: string }>().mode, 'transcode');
    // a second of each side's audio through the bridge, counted at the other side's endpoint
    const [sentA, sentB] = await Promise.all([endpoint(r, a.call.endpointId), endpoint(r, b.call.endpointId)]);
    await until(
      r,
      a.call.endpointId,
      (e) => e.stats.packets_sent >= sentA.stats.packets_sent + 50,
      'B is relayed to A',
    );
    await until(
      r,
      b.call.endpointId,
      (e) => e.stats.packets_sent >= sentB.stats.packets_sent + 50,
      'A is relayed to B',
    );
    await a.phone.command('hangup');
    await b.phone.command('hangup');
    await Promise.all([a.call.ended, b.call.ended]);
    const heardA = (await a.phone.quit()).heard;
    const heardB = (await b.phone.quit()).heard;
    assert.ok(heardA && heardB);
    const atA = await decodeWithFfmpeg(heardA, 8000);
    const atB = await decodeWithFfmpeg(heardB, 8000);
    assert.ok(
      blocksOf(atA, OUR_HZ, 8000).length * 20 >= 500,
      `A (Opus) heard B's ${OUR_HZ} Hz for ${blocksOf(atA, OUR_HZ, 8000).length * 20} ms`,
    );
    assert.ok(
      blocksOf(atB, CALLER_HZ, 8000).length * 20 >= 500,
      `B (PCMU) heard A's ${CALLER_HZ} Hz for ${blocksOf(atB, CALLER_HZ, 8000).length * 20} ms`,
    );
  },
);
