import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFlowText } from '../../src/flows/loader.ts';
import { harness } from './helpers/harness.ts';

const AMD = `
name: a
start: detect
steps:
  detect:
    type: amd
    greeting: 1200
    maximum_number_of_words: 3
    on:
      human: person
      machine: machine
    next: unsure
  person:
    type: return
    values: { who: "'person'", cause: amd.cause }
  machine:
    type: return
    values: { who: "'machine'", cause: amd.cause, detail: amd.detail }
  unsure:
    type: return
    values: { who: "'unsure'", cause: amd.cause }
`;

type Vars = Record<string, unknown>;
type Ended = { payload: Record<string, unknown> } | undefined;
/** What the flow's `return` gave back (the outcome's variables). */
const returned = (e: Ended): Vars => {
  assert.ok(e, 'the flow ended');
  return (e.payload.outcome as { variables: Vars }).variables;
};

test('amd step: on.{human,machine} become next branches on the result, next takes the rest; parameters keep amd.conf names', () => {
  const r = loadFlowText(AMD, 'a.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const step = r.flow.steps.detect!;
  assert.equal(step.type, 'amd');
  assert.deepEqual(
    step.next.map((n) => [n.condText, n.target]),
    [
      ["amd.result == 'human'", 'person'],
      ["amd.result == 'machine'", 'machine'],
      [null, 'unsure'],
    ],
  );
  assert.deepEqual(step.type === 'amd' && step.parameters, { greetingMs: 1200, maximumNumberOfWords: 3 });
});

test('amd step: the flow schema rejects a parameter out of Asterisk range, an unknown result and an unknown step', () => {
  const bad = (extra: string) =>
    loadFlowText(AMD.replace('    greeting: 1200\n', `    greeting: 1200\n${extra}`), 'a.yaml');
  const zero = bad('    min_word_length: 0\n');
  assert.ok(!zero.ok && zero.errors.some((e) => /min_word_length/.test(e.message)), JSON.stringify(zero));
  const result = loadFlowText(
    AMD.replace('      machine: machine', '      machine: machine\n      fax: machine'),
    'a.yaml',
  );
  assert.ok(!result.ok && result.errors.some((e) => /fax/.test(e.message)), JSON.stringify(result));
  const step = loadFlowText(AMD.replace('human: person', 'human: nobody'), 'a.yaml');
  assert.ok(!step.ok && step.errors.some((e) => /nobody/.test(e.message)), JSON.stringify(step));
});

test('amd step over a scripted caller: hello then silence is human 800 ms after the word; the result is in the variables', async (t) => {
  const h = harness({ a: AMD });
  t.after(() => h.service.close());
  h.service.start('ep', 'a');
  await h.clock.advanceTo(300);
  h.engines.talk('ep', 500); // "hello?" from 300 to 800 ms
  await h.clock.advanceTo(1500);
  assert.equal(h.ended(), undefined, 'not decided before 800 ms of silence after the word');
  await h.clock.advanceTo(1700);
  const end = h.ended();
  assert.equal(end?.type, 'flow.completed');
  const vars = returned(end);
  assert.deepEqual([vars.who, vars.cause], ['person', 'HUMAN']);
  assert.equal(end!.at, 1600);
  const amd = (end!.payload.variables as Vars).amd as Vars;
  assert.deepEqual(amd, {
    result: 'human',
    cause: 'HUMAN',
    detail: 'HUMAN-800-800',
    analysed_ms: 1600,
    voice_ms: 500,
    words: 1,
  });
});

test('amd step: a long greeting is machine at the step’s greeting parameter (1200 ms), silence machine at initial_silence', async (t) => {
  const h = harness({ a: AMD });
  t.after(() => h.service.close());
  h.service.start('ep', 'a');
  await h.clock.advanceTo(200);
  h.engines.talk('ep', 5000);
  await h.clock.advanceTo(3000);
  const vars = returned(h.ended());
  assert.deepEqual([vars.who, vars.detail], ['machine', 'LONGGREETING-1200-1200']);
  assert.equal(h.ended()!.at, 200 + 1200);

  const quiet = harness({ a: AMD });
  t.after(() => quiet.service.close());
  quiet.service.start('ep', 'a');
  await quiet.clock.advanceTo(3000);
  assert.deepEqual(returned(quiet.ended()).detail, 'INITIALSILENCE-2500-2500');
});

test('amd step: notsure follows next; a hangup during detection ends the flow as hung up and stops the detection', async (t) => {
  const h = harness({ a: AMD });
  t.after(() => h.service.close());
  h.service.start('ep', 'a');
  // short bursts below min_word_length, never a word, never silence long enough: TOOLONG at 5 s
  for (let at = 0; at < 5200; at += 120) {
    await h.clock.advanceTo(at);
    h.engines.talk('ep', 60);
  }
  const vars = returned(h.ended());
  assert.deepEqual([vars.who, vars.cause], ['unsure', 'TOOLONG']);

  const g = harness({ a: AMD });
  t.after(() => g.service.close());
  g.service.start('ep', 'a');
  await g.clock.advanceTo(1000);
  g.engines.hangupCaller('ep');
  await g.clock.advance(10);
  const call = g.engines.calls.find((c) => c.kind === 'amd');
  assert.equal(call?.result, 'hangup');
  assert.equal(call?.endedAt, 1000);
  assert.equal(g.steps().join(','), 'detect');
  assert.equal(g.ended()?.type, 'flow.completed');
  assert.deepEqual(g.ended()!.payload.outcome, { action: 'hangup', cause: 'caller_hangup' });
});
