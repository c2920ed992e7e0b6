import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAKE_END_OF_SPEECH_MS } from '../../src/flows/testing/FakeEngines.ts';
import { harness } from './helpers/harness.ts';

const SPEECH = (input: string, extra = '') => `
name: s
start: ask
steps:
  ask:
    type: collect
    input: ${input}
    prompt: prompt:question
    first_digit_timeout_ms: 3000
    max_digits: 4
    variable: answer
    noinput: { prompt: prompt:ni }
    nomatch: { prompt: prompt:nm }
    max_attempts: 3
    on_failure: failed
${extra}
    next: done
  done:
    type: return
  failed:
    type: return
    values: { failed: true }
`;

type Vars = Record<string, unknown>;

test('collect input: speech: the transcript and confidence land in the variables; talk barges into the prompt', async (t) => {
  const h = harness({ s: SPEECH('speech') });
  t.after(() => h.service.close());
  h.service.start('ep', 's');
  // The prompt (1.5 s) is interrupted by talk at 0.5 s; the utterance ends 1.2 s later.
  await h.clock.advanceTo(500);
  h.engines.speak('ep', 'billing please', 1200, 0.82);
  await h.clock.advanceTo(500 + 1200 + FAKE_END_OF_SPEECH_MS + 10);
  const play = h.engines.calls.find((c) => c.kind === 'play');
  assert.equal(play?.result, 'speech', 'the prompt was stopped by the talk');
  assert.equal(play?.endedAt, 500);
  const end = h.ended();
  assert.equal(end?.type, 'flow.completed');
  const vars = end!.payload.variables as Vars;
  assert.equal(vars.answer, 'billing please');
  assert.equal(vars.last_transcript, 'billing please');
  assert.equal(vars.last_confidence, 0.82);
  assert.equal(vars.last_input_mode, 'speech');
});

test('collect input: speech: silence is a noinput after first_digit_timeout_ms, then the handler prompt and a new attempt', async (t) => {
  const h = harness({ s: SPEECH('speech') });
  t.after(() => h.service.close());
  h.service.start('ep', 's');
  // question 0-1.5 s, 3 s of silence → noinput at 4.5 s, ni 4.5-6 s, question 6-7.5 s
  await h.clock.advanceTo(7600);
  assert.deepEqual(h.played(), ['prompt:question', 'prompt:ni', 'prompt:question']);
  const rec = h.engines.calls.filter((c) => c.kind === 'recognize');
  assert.equal(rec[0]?.result, 'no_input');
  assert.equal(rec[0]?.endedAt, 4500);
  // Now the caller answers after the prompt.
  h.engines.speak('ep', 'yes', 400);
  await h.clock.advance(400 + FAKE_END_OF_SPEECH_MS + 10);
  assert.equal((h.ended()!.payload.variables as Vars).answer, 'yes');
});

test('collect input: speech: words the recogniser cannot make out, or below min_confidence, are a nomatch', async (t) => {
  const h = harness({ s: SPEECH('speech', '    speech: { min_confidence: 0.5 }') });
  t.after(() => h.service.close());
  h.service.start('ep', 's');
  await h.clock.advanceTo(1600);
  h.engines.speak('ep', '', 500);
  await h.clock.advance(500 + FAKE_END_OF_SPEECH_MS + 10);
  // nm 1.5 s, then the question again (1.5 s)
  await h.clock.advance(3100);
  h.engines.speak('ep', 'maybe', 500, 0.3);
  await h.clock.advance(500 + FAKE_END_OF_SPEECH_MS + 10);
  assert.deepEqual(h.played(), ['prompt:question', 'prompt:nm', 'prompt:question', 'prompt:nm']);
  const statuses = h.engines.calls.filter((c) => c.kind === 'recognize').map((c) => c.result);
  assert.deepEqual(statuses, ['no_match', 'recognized']);
  await h.clock.advance(1500 + 100);
  h.engines.speak('ep', 'definitely', 500, 0.95);
  await h.clock.advance(500 + FAKE_END_OF_SPEECH_MS + 10);
  const vars = h.ended()!.payload.variables as Vars;
  assert.equal(vars.answer, 'definitely');
});

test('collect input: both: a key stops the recognition and the digits are the answer (last_input_mode dtmf)', async (t) => {
  const h = harness({ s: SPEECH('both') });
  t.after(() => h.service.close());
  h.service.start('ep', 's');
  await h.clock.advanceTo(2000);
  const rec = h.engines.calls.find((c) => c.kind === 'recognize');
  assert.ok(rec !== undefined && rec.endedAt === null, 'listening after the prompt');
  h.engines.sendDtmf('ep', '42#');
  await h.clock.advance(10);
  assert.notEqual(rec.endedAt, null, 'the recognition was stopped by the key');
  const vars = h.ended()!.payload.variables as Vars;
  assert.equal(vars.answer, '42');
  assert.equal(vars.last_input_mode, 'dtmf');
});

test('collect input: both: a key during the prompt stops it and starts the digits', async (t) => {
  const h = harness({ s: SPEECH('both') });
  t.after(() => h.service.close());
  h.service.start('ep', 's');
  await h.clock.advanceTo(300);
  h.engines.sendDtmf('ep', '7');
  await h.clock.advance(3100);
  assert.equal(h.engines.calls.find((c) => c.kind === 'play')?.endedAt, 300);
  assert.equal((h.ended()!.payload.variables as Vars).answer, '7');
});

test('play with barge_in: speech stops on talk and not on a key; barge_in: dtmf the reverse', async (t) => {
  const flow = (barge: string) => `
name: p
start: hello
steps:
  hello:
    type: play
    media: prompt:long
    barge_in: ${barge}
`;
  const h = harness({
    sp: flow('speech').replace('name: p', 'name: sp'),
    dt: flow('dtmf').replace('name: p', 'name: dt'),
  });
  t.after(() => h.service.close());
  h.service.start('a', 'sp');
  h.service.start('b', 'dt');
  await h.clock.advanceTo(300);
  h.engines.sendDtmf('a', '1');
  h.engines.speak('b', 'hello', 500);
  await h.clock.advanceTo(600);
  h.engines.speak('a', 'hello', 500);
  h.engines.sendDtmf('b', '1');
  await h.clock.advance(10);
  const byEp = (ep: string) => h.engines.calls.find((c) => c.kind === 'play' && c.endpointId === ep);
  assert.deepEqual([byEp('a')?.result, byEp('a')?.endedAt], ['speech', 600]);
  // A key leaves the step at once (the play is stopped by the flow rather than by the engine).
  assert.equal(byEp('b')?.endedAt, 600);
});

test('the loader refuses a bad input kind and a non-WebSocket recogniser URL', () => {
  const h = harness({});
  assert.throws(() => h.service.put('x', SPEECH('voice').replace('name: s', 'name: x')), /input/);
  assert.throws(
    () => h.service.put('y', SPEECH('speech', '    speech: { url: "http://asr" }').replace('name: s', 'name: y')),
    /url/,
  );
});
