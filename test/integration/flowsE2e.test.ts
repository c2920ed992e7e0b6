import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { run } from '../helpers/proc.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';

/**
 * The example flows end to end over real RTP on 127.0.0.1: a caller (RtpPeer) whose endpoint
 * is handed to a flow, prompts actually played (audio received), DTMF sent as RFC 4733 events.
 */

const FLOWS_DIR = path.resolve('flows');

function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** RMS of the μ-law audio the caller received since index `from`. */
function receivedRms(peer: RtpPeer, from = 0): number {
  let sum = 0;
  let n = 0;
  for (const p of peer.received.slice(from)) {
    if (p.pt !== 0) continue;
    for (const b of p.payload) {
      const v = ulawToLinear(b);
      sum += v * v;
      n++;
    }
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

interface Call {
  server: MediaServer;
  flows: FlowService;
  caller: RtpPeer;
  endpointId: string;
  rtpPort: number;
  /** Queues μ-law audio for the caller to send (20 ms packets, silence when the queue is empty). */
  speak(ulaw: Buffer): void;
}

async function setup(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<Call> {
  // Real calls: idle endpoints keep sending (comfort noise / silence) as in production.
  const server = await startServer({ SILENCE_FILL: 'cn', ...env });
  t.after(() => server.close());
  const flows = new FlowService({
    engines: MediaFlowEngines.forServer(server),
    emit: server.events.forFlows(),
    dir: FLOWS_DIR,
  });
  flows.loadDir();
  t.after(() => flows.close());
  const caller = await RtpPeer.open();
  t.after(() => caller.close());
  const ep = await server.createEndpoint({ remote_sdp: caller.offer(['pcmu']) });
  // The caller's phone sends audio every 20 ms: queued speech, else silence (keeps it latched).
  const queue: Buffer[] = [];
  const silence = Buffer.alloc(160, 0xff);
  const clock = setInterval(() => caller.send(ep.rtp_port, queue.shift() ?? silence), 20);
  t.after(() => clearInterval(clock));
  const speak = (ulaw: Buffer) => {
    for (let i = 0; i + 160 <= ulaw.length; i += 160) queue.push(ulaw.subarray(i, i + 160));
  };
  return { server, flows, caller, endpointId: ep.id, rtpPort: ep.rtp_port, speak };
}

function completed(server: MediaServer, sessionId: string, timeoutMs = 20_000): Promise<ServerEvent> {
  return nextEvent(server, 'flow.completed', (e) => e.session_id === sessionId, timeoutMs);
}

test('main-menu over RTP: the welcome prompt is heard, "1" (RFC 4733) transfers to sales', async (t) => {
  const { server, flows, caller, endpointId, rtpPort } = await setup(t);
  const started = nextEvent(server, 'playback.started');
  const session = flows.start(endpointId, 'main-menu', {});
  const done = completed(server, session.id);
  await started;
  await caller.waitFor(40); // 800 ms of the welcome prompt
  assert.ok(receivedRms(caller) > 300, `the prompt is audible (rms ${receivedRms(caller).toFixed(0)})`);
  await caller.sendDtmf(rtpPort, '1');
  const event = await done;
  assert.deepEqual(event.outcome, { action: 'transfer', target: 'sip:sales@pbx.example.com' });
});

test('main-menu over RTP: a wrong key, then 2 goes to support, which is spoken with TTS', async (t) => {
  const { server, flows, caller, endpointId, rtpPort } = await setup(t);
  const log: ServerEvent[] = [];
  t.after(server.events.subscribe((e) => log.push(e)));
  /** Resolves with the index in `log` of the first event after `from` matching `pred`. */
  const after = async (from: number, pred: (e: ServerEvent) => boolean, timeoutMs = 15_000): Promise<number> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = log.findIndex((e, k) => k > from && pred(e));
      if (i >= 0) return i;
      if (Date.now() > until)
        throw new Error(
          `no matching event after #${from}: ${log
            .slice(from + 1)
            .map((e) => e.type)
            .join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const prompt = (e: ServerEvent) => e.type === 'playback.started' && e.endpoint_id === endpointId;
  const session = flows.start(endpointId, 'main-menu', {});
  const done = completed(server, session.id, 40_000);
  const menu = await after(-1, (e) => e.type === 'flow.step' && e.session_id === session.id && e.step === 'menu');
  const menuPrompt = await after(menu, prompt);
  await caller.sendDtmf(rtpPort, '9');
  const invalidPrompt = await after(menuPrompt, prompt); // "not a valid option"
  await after(invalidPrompt, prompt); // then the short menu again: answer it
  await caller.sendDtmf(rtpPort, '2');
  await after(menu, (e) => e.type === 'flow.step' && e.session_id === session.id && e.step === 'support');
  const before = caller.received.length;
  const event = await done;
  assert.deepEqual(event.outcome, { action: 'transfer', target: 'sip:support@pbx.example.com' });
  assert.ok(caller.received.length - before > 20, 'the TTS sentence was sent as RTP');
  assert.ok(receivedRms(caller, before) > 300, 'and it is audible');
});

test('survey over RTP: three answers by RFC 4733 are posted to the webhook as JSON', async (t) => {
  const posts: Array<Record<string, unknown>> = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      posts.push(JSON.parse(body) as Record<string, unknown>);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'sv-1' }));
    });
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  t.after(() => hook.close());
  const { server, flows, caller, endpointId, rtpPort } = await setup(t);
  const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/survey`;
  const session = flows.start(endpointId, 'survey', { webhook_url: url });
  const done = completed(server, session.id, 60_000);
  for (const [step, key] of [
    ['q1', '4'],
    ['q2', '5'],
    ['q3', '1'],
  ] as const) {
    await nextEvent(server, 'flow.step', (e) => e.session_id === session.id && e.step === step, 20_000);
    await caller.sendDtmf(rtpPort, key);
  }
  await done;
  assert.equal(posts.length, 1);
  assert.equal(posts[0]!.satisfaction, 4);
  assert.equal(posts[0]!.recommend, 5);
  assert.equal(posts[0]!.resolved, true);
});

test('a flow ends with outcome hangup when the b2bua deletes the endpoint mid-prompt', async (t) => {
  const { server, flows, endpointId } = await setup(t);
  const session = flows.start(endpointId, 'main-menu', {});
  const done = completed(server, session.id);
  await nextEvent(server, 'playback.started');
  const stopped = nextEvent(server, 'playback.finished', (e) => e.endpoint_id === endpointId);
  await server.deleteEndpoint(endpointId);
  const event = await done;
  assert.equal((event.outcome as { action: string }).action, 'hangup');
  assert.equal((await stopped).reason, 'stopped');
});

test(
  'appointment-reminder over RTP: the callee says "hello" (amd: human), the TTS reminder is spoken, "2" cancels and the clinic is told',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const posts: Array<Record<string, unknown>> = [];
    const clinic = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        posts.push(JSON.parse(body) as Record<string, unknown>);
        res.end('{}');
      });
    });
    clinic.listen(0, '127.0.0.1');
    await once(clinic, 'listening');
    t.after(() => clinic.close());
    const { server, flows, caller, endpointId, rtpPort, speak } = await setup(t);
    const session = flows.start(endpointId, 'appointment-reminder', {
      patient_name: 'Ada',
      appointment_time: 'Tuesday at 3 PM',
      confirm_url: `http://127.0.0.1:${(clinic.address() as { port: number }).port}/reminders`,
    });
    const done = completed(server, session.id, 60_000);
    // An outbound call: the callee answers with a short "hello" (Asterisk's recording), then waits.
    const dir = mkdtempSync(path.join(tmpdir(), 'msc-hello-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const hello = readFileSync(await soxUlaw(dir, '/usr/share/asterisk/sounds/en/hello.wav'));
    speak(Buffer.concat([Buffer.alloc(8 * 300, 0xff), hello]));
    const detected = await nextEvent(server, 'endpoint.amd', (e) => e.endpoint_id === endpointId, 30_000);
    assert.deepEqual([detected.result, detected.cause], ['human', 'HUMAN']);
    await nextEvent(server, 'flow.step', (e) => e.session_id === session.id && e.step === 'ask', 30_000);
    assert.ok(caller.received.length > 50 && receivedRms(caller) > 300, 'the reminder was spoken');
    await caller.sendDtmf(rtpPort, '2');
    const event = await done;
    assert.equal((event.outcome as { action: string }).action, 'completed');
    assert.equal((event.variables as Record<string, unknown>).status, 'cancelled');
    assert.equal(((event.variables as Record<string, unknown>).amd as { result: string }).result, 'human');
    assert.deepEqual(posts, [{ patient: 'Ada', status: 'cancelled' }]);
  },
);

/** `file` as μ-law 8 kHz made by sox, in `dir`. */
async function soxUlaw(dir: string, file: string): Promise<string> {
  const out = path.join(dir, `${path.basename(file)}.ul`);
  const r = await run('sox', [file, '-r', '8000', '-c', '1', '-t', 'ul', out]).done;
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/** Real speech from the Asterisk prompts, as μ-law 8 kHz made by sox. */
async function speechUlaw(dir: string): Promise<Buffer> {
  const out = path.join(dir, 'speech.ul');
  const r = await run('sox', [
    '/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav',
    '-r',
    '8000',
    '-c',
    '1',
    '-t',
    'ul',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out);
}

test(
  'voicemail over RTP: greeting, beep, the caller speaks, "#" ends the message, "1" saves it',
  needs('sox', 'ffprobe', 'asterisk-sounds'),
  async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msc-vm-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { server, flows, caller, endpointId, rtpPort, speak } = await setup(t, { RECORDINGS_DIR: dir });
    const session = flows.start(endpointId, 'voicemail', { mailbox: '42' });
    const done = completed(server, session.id, 60_000);
    const recording = nextEvent(server, 'recording.started', (e) => e.endpoint_id === endpointId, 40_000);
    await recording;
    const speech = await speechUlaw(dir);
    speak(speech);
    await new Promise((r) => setTimeout(r, speech.length / 8 + 200)); // the caller talks
    const finished = nextEvent(server, 'recording.finished', (e) => e.endpoint_id === endpointId, 10_000);
    await caller.sendDtmf(rtpPort, '#');
    const rec = await finished;
    await nextEvent(server, 'flow.step', (e) => e.session_id === session.id && e.step === 'review', 10_000);
    await caller.sendDtmf(rtpPort, '1');
    const event = await done;
    assert.equal((event.outcome as { action: string }).action, 'hangup');
    const file = String(rec.path);
    assert.ok(file.startsWith(dir) && file.endsWith('.wav'), file);
    assert.ok(file.includes(path.join('voicemail', '42')), file);
    // ffprobe reads the message; it is about as long as what the caller said.
    const probe = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file])
      .done;
    const seconds = Number(probe.stdout.trim());
    assert.ok(
      Math.abs(seconds - speech.length / 8000) < 1.0,
      `message ${seconds}s for ${speech.length / 8000}s of speech`,
    );
    const message = (event.variables as Record<string, any>).message;
    assert.equal(message.path, file);
  },
);

/** Relative power of `freq` in μ-law audio (Goertzel), 0..1. */
function tonePower(packets: Array<{ pt: number; payload: Buffer }>, freq: number): number {
  const x: number[] = [];
  for (const p of packets) if (p.pt === 0) for (const b of p.payload) x.push(ulawToLinear(b));
  if (x.length === 0) return 0;
  const k = 2 * Math.cos((2 * Math.PI * freq) / 8000);
  let s1 = 0,
    s2 = 0,
    energy = 0;
  for (const v of x) {
    const s0 = v + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += v * v;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (x.length * energy);
}

test(
  'conference-pin over RTP: two callers enter the PIN, join the room and hear each other',
  needs('sox'),
  async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msc-conf-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const a = await setup(t);
    // the second caller on the same server and flow service
    const callerB = await RtpPeer.open();
    t.after(() => callerB.close());
    const epB = await a.server.createEndpoint({ remote_sdp: callerB.offer(['pcmu']), affinity: 'team' });
    const silence = Buffer.alloc(160, 0xff);
    const clockB = setInterval(() => callerB.send(epB.rtp_port, silence), 20);
    t.after(() => clearInterval(clockB));

    const joined = (endpointId: string) =>
      nextEvent(a.server, 'conference.participant.joined', (e) => e.endpoint_id === endpointId, 40_000);
    const askingPin = (endpointId: string) =>
      nextEvent(a.server, 'flow.step', (e) => e.endpoint_id === endpointId && e.subflow === 'pin-check', 20_000);
    const [askingA, askingB] = [askingPin(a.endpointId), askingPin(epB.id)];
    const joinedA = joined(a.endpointId);
    const joinedB = joined(epB.id);
    const sessionA = a.flows.start(a.endpointId, 'conference-pin', { room: 'team', pin: '4321' });
    const sessionB = a.flows.start(epB.id, 'conference-pin', { room: 'team', pin: '4321' });
    const enterPin = async (peer: RtpPeer, port: number, asking: Promise<unknown>) => {
      await asking;
      for (const d of '4321#') await peer.sendDtmf(port, d);
    };
    await Promise.all([enterPin(a.caller, a.rtpPort, askingA), enterPin(callerB, epB.rtp_port, askingB)]);
    await Promise.all([joinedA, joinedB]);

    // A says something (a 600 Hz tone from sox); B hears it in the mix, A does not hear itself.
    const tone = path.join(dir, 'tone.ul');
    assert.equal(
      (
        await run('sox', ['-n', '-r', '8000', '-c', '1', '-t', 'ul', tone, 'synth', '2', 'sine', '600', 'vol', '0.5'])
          .done
      ).code,
      0,
    );
    const fromB = callerB.received.length;
    const fromA = a.caller.received.length;
    a.speak(readFileSync(tone));
    await new Promise((r) => setTimeout(r, 2200));
    const heardByB = tonePower(callerB.received.slice(fromB + 10), 600);
    const heardByA = tonePower(a.caller.received.slice(fromA + 10), 600);
    assert.ok(heardByB > 0.5, `B hears A's tone (relative power ${heardByB.toFixed(3)})`);
    assert.ok(heardByA < 0.1, `A does not hear itself (relative power ${heardByA.toFixed(3)})`);

    // A hangs up: A's flow ends with hangup, B is still in the room.
    const doneA = completed(a.server, sessionA.id, 10_000);
    await a.server.deleteEndpoint(a.endpointId);
    assert.equal(((await doneA).outcome as { action: string }).action, 'hangup');
    assert.equal(a.flows.getSession(sessionB.id)?.status, 'running');
  },
);
