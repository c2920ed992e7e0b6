import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { needs } from '../helpers/peers.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { StubRecognizer } from '../helpers/StubRecognizer.ts';
import { packetLevels, soundUlaw, TalkingCaller } from '../helpers/TalkingCaller.ts';

/**
 * Speech input in a flow over real RTP: a caller sends recorded speech, the server's talk
 * detector finds the utterance and streams it to a recogniser over WebSocket (a stub that
 * answers a fixed transcript when it receives audio), and the flow gets the answer.
 */

const flow = (url: string, input: string, prompt = 'tone:440:5000') => `
name: ask
start: ask
steps:
  ask:
    type: collect
    input: ${input}
    prompt: ${prompt}
    first_digit_timeout_ms: 1500
    max_digits: 4
    max_attempts: 1
    speech: { url: "${url}", language: en-US, hints: [billing, sales] }
    variable: answer
    on_failure: failed
  failed:
    type: set
    values: { ni: noinput_count, nm: nomatch_count }
`;

interface Call {
  server: MediaServer;
  flows: FlowService;
  caller: TalkingCaller;
  asr: StubRecognizer;
  endpointId: string;
  rtpPort: number;
}

async function setup(t: { after(fn: () => unknown): void }, input: string, prompt?: string): Promise<Call> {
  const server = await startServer({ SILENCE_FILL: 'cn' });
  t.after(() => server.close());
  const asr = await StubRecognizer.open();
  t.after(() => asr.close());
  const flows = new FlowService({ engines: MediaFlowEngines.forServer(server), emit: server.events.forFlows() });
  t.after(() => flows.close());
  flows.put('ask', flow(asr.url, input, prompt));
  const caller = await TalkingCaller.open();
  t.after(() => caller.close());
  const ep = await server.createEndpoint({ remote_sdp: caller.peer.offer(['pcmu']) });
  caller.start(ep.rtp_port);
  return { server, flows, caller, asr, endpointId: ep.id, rtpPort: ep.rtp_port };
}

const completed = (server: MediaServer, sessionId: string): Promise<ServerEvent> =>
  nextEvent(server, 'flow.completed', (e) => e.session_id === sessionId, 30_000);

test(
  'speech collect over RTP: talk barges into the prompt, the utterance goes to the recogniser, its transcript and confidence land in the variables',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, flows, caller, asr, endpointId } = await setup(t, 'speech');
    const started = nextEvent(server, 'playback.started', (e) => e.endpoint_id === endpointId);
    const finished = nextEvent(server, 'playback.finished', (e) => e.endpoint_id === endpointId, 15_000);
    const session = flows.start(endpointId, 'ask', {});
    const done = completed(server, session.id);
    await started;
    const speech = await soundUlaw('vm-intro');
    const levels = packetLevels(speech);
    caller.say(speech);
    const pb = await finished;
    assert.equal(pb.reason, 'barge_in', 'the caller talking stopped the prompt');
    const end = await done;
    const vars = end.variables as Record<string, unknown>;
    assert.equal(vars.answer, 'billing please');
    assert.equal(vars.last_transcript, 'billing please');
    assert.equal(vars.last_confidence, 0.87);
    assert.equal(vars.last_input_mode, 'speech');
    assert.equal(asr.sessions.length, 1);
    const s = asr.sessions[0]!;
    assert.deepEqual(s.start, {
      type: 'start',
      session_id: s.start?.session_id,
      endpoint_id: endpointId,
      sample_rate: 8000,
      encoding: 'l16',
      byte_order: 'little',
      channels: 1,
      language: 'en-US',
      hints: ['billing', 'sales'],
    });
    assert.ok(s.stopped, 'the utterance ended with stop');
    // The recogniser got the talk: the file's loud span, plus up to the pre-roll before its onset
    // (300 ms) and the closing silence that ended it (600 ms), with a packet or so of slack each.
    const first = levels.findIndex((l) => l >= -35);
    let last = levels.length - 1;
    while (levels[last]! < -35) last--;
    const talkS = ((last - first + 1) * 20) / 1000;
    const sentS = s.audioBytes / 2 / 8000;
    t.diagnostic(`utterance ${talkS.toFixed(2)} s, sent ${sentS.toFixed(2)} s`);
    assert.ok(sentS >= talkS && sentS <= talkS + 0.3 + 0.6 + 0.1, `sent ${sentS} s of audio for ${talkS} s of talk`);
  },
);

test('speech collect: a silent caller is a noinput after first_digit_timeout_ms, without audio sent', async (t) => {
  const { server, flows, asr, endpointId } = await setup(t, 'speech', 'tone:440:300');
  const session = flows.start(endpointId, 'ask', {});
  const end = await completed(server, session.id);
  const vars = end.variables as Record<string, unknown>;
  assert.deepEqual([vars.ni, vars.nm], [1, 0]);
  assert.equal(vars.answer, undefined);
  assert.equal(asr.sessions.length, 1);
  assert.equal(asr.sessions[0]!.audioBytes, 0);
});

test(
  'speech collect: a recogniser that makes nothing of the talk gives a nomatch',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, flows, caller, asr, endpointId } = await setup(t, 'speech', 'tone:440:300');
    asr.mode = 'empty';
    const session = flows.start(endpointId, 'ask', {});
    const done = completed(server, session.id);
    caller.say(await soundUlaw('all-circuits-busy-now'));
    const vars = (await done).variables as Record<string, unknown>;
    assert.deepEqual([vars.ni, vars.nm], [0, 1]);
    assert.ok(asr.sessions[0]!.audioBytes > 0, 'the talk was sent');
  },
);

test('speech collect input: both: a key pressed while listening wins over speech', async (t) => {
  const { server, flows, caller, asr, endpointId, rtpPort } = await setup(t, 'both', 'tone:440:300');
  const session = flows.start(endpointId, 'ask', {});
  const done = completed(server, session.id);
  await nextEvent(server, 'playback.finished', (e) => e.endpoint_id === endpointId);
  await caller.peer.sendDtmf(rtpPort, '5');
  await caller.peer.sendDtmf(rtpPort, '#');
  const vars = (await done).variables as Record<string, unknown>;
  assert.equal(vars.answer, '5');
  assert.equal(vars.last_input_mode, 'dtmf');
  assert.equal(asr.sessions[0]?.audioBytes ?? 0, 0);
});

test('speech collect: an unreachable recogniser fails the step (on_error), as does none configured', async (t) => {
  const server = await startServer({ SILENCE_FILL: 'cn' });
  t.after(() => server.close());
  const flows = new FlowService({ engines: MediaFlowEngines.forServer(server), emit: server.events.forFlows() });
  t.after(() => flows.close());
  const caller = await TalkingCaller.open();
  t.after(() => caller.close());
  const ep = await server.createEndpoint({ remote_sdp: caller.peer.offer(['pcmu']) });
  caller.start(ep.rtp_port);
  // A port nobody listens on: the connection is refused.
  const closed = await StubRecognizer.open();
  const deadUrl = closed.url;
  await closed.close();
  const withError = (url: string | null) =>
    flow(url ?? 'ws://unused', 'speech', 'tone:440:200')
      .replace(url === null ? '    speech: { url: "ws://unused", language: en-US, hints: [billing, sales] }\n' : '', '')
      .replace('name: ask\nstart: ask\n', 'name: ask\nstart: ask\non_error: oops\n')
      .concat('  oops:\n    type: set\n    values: { code: "error.code", message: "error.message" }\n');
  for (const [name, url, message] of [
    ['dead', deadUrl, /recogniser: .*ECONNREFUSED/],
    ['none', null, /SPEECH_RECOGNIZER_URL/],
  ] as const) {
    flows.put('ask', withError(url));
    const session = flows.start(ep.id, 'ask', {});
    const end = await completed(server, session.id);
    const vars = end.variables as Record<string, unknown>;
    assert.equal(vars.code, 'STEP_FAILED', `${name}: ${JSON.stringify(vars)}`);
    assert.match(String(vars.message), message, name);
  }
});
