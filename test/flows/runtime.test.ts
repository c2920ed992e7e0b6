import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness } from './helpers/harness.ts';

const COLLECT = `
name: c
start: ask
steps:
  ask:
    type: collect
    prompts: [prompt:p1, prompt:p2, prompt:p3]
    min_digits: 3
    max_digits: 4
    terminator: "#"
    first_digit_timeout_ms: 5000
    inter_digit_timeout_ms: 2000
    noinput: { prompts: [prompt:ni1, prompt:ni2] }
    nomatch: { prompt: prompt:nm1 }
    max_attempts: 4
    on_failure: failed
    variable: code
    next: counts
  counts:
    type: set
    values: { ni: noinput_count, nm: nomatch_count, tries: attempt }
  failed:
    type: return
    values: { failed: true }
`;

test('collect counts noinput and nomatch separately and tapers prompts per attempt (VoiceXML)', async (t) => {
  const h = harness({ c: COLLECT });
  t.after(() => h.service.close());
  h.service.start('ep', 'c');
  // attempt 1: p1 0-1.5 s, silence → noinput at 6.5 s, ni1 6.5-8 s
  await h.clock.advanceTo(8500);
  // attempt 2: p2 8-9.5 s; a wrong code (too short, then timeout) → nomatch
  h.engines.sendDtmf('ep', '1');
  await h.clock.advanceTo(10500); // digit at 8.5 s barged into p2; inter-digit timeout at 10.5 s
  // nm1 10.5-12 s, attempt 3: p3 12-13.5 s, silence → noinput at 18.5 s, ni2 18.5-20 s, p3 20-21.5 s
  await h.clock.advanceTo(22000);
  h.engines.sendDtmf('ep', '123#');
  await h.clock.advance(10);
  assert.deepEqual(h.played(), [
    'prompt:p1',
    'prompt:ni1',
    'prompt:p2',
    'prompt:nm1',
    'prompt:p3',
    'prompt:ni2',
    'prompt:p3',
  ]);
  const end = h.ended();
  assert.equal(end?.type, 'flow.completed');
  assert.deepEqual((end!.payload.variables as Record<string, unknown>).code, '123');
  assert.equal((end!.payload.variables as Record<string, unknown>).ni, 2);
  assert.equal((end!.payload.variables as Record<string, unknown>).nm, 1);
  assert.equal((end!.payload.variables as Record<string, unknown>).tries, 4);
});

test('collect goes to on_failure after max_attempts, and fails the flow without one', async (t) => {
  const h = harness({ c: COLLECT, d: COLLECT.replace('name: c', 'name: d').replace('    on_failure: failed\n', '') });
  t.after(() => h.service.close());
  const s1 = h.service.start('ep1', 'c');
  const s2 = h.service.start('ep2', 'd');
  await h.clock.advance(120_000);
  assert.deepEqual(s1.outcome, { action: 'completed', variables: { failed: true } });
  assert.equal(s2.status, 'failed');
  assert.equal(s2.error?.code, 'MAX_ATTEMPTS');
  const failed = h.events.find((e) => e.type === 'flow.failed');
  assert.equal((failed!.payload.error as { code: string }).code, 'MAX_ATTEMPTS');
  assert.equal(h.clock.pending, 0, 'no timers left behind');
});

test('collect with barge-in stops the prompt at the first digit; without it the prompt plays out', async (t) => {
  const flow = (barge: boolean) => `
name: b${barge ? 1 : 0}
start: ask
steps:
  ask:
    type: collect
    prompt: [prompt:long]
    barge_in: ${barge}
    max_digits: 1
    variable: k
`;
  const h = harness({ b1: flow(true), b0: flow(false) }, { durationOf: () => 10_000 });
  t.after(() => h.service.close());
  const s1 = h.service.start('ep1', 'b1');
  const s0 = h.service.start('ep0', 'b0');
  await h.clock.advanceTo(2000);
  h.engines.sendDtmf('ep1', '5');
  h.engines.sendDtmf('ep0', '5');
  await h.clock.advance(1);
  const [p1, p0] = [
    h.engines.calls.find((c) => c.endpointId === 'ep1'),
    h.engines.calls.find((c) => c.endpointId === 'ep0'),
  ];
  assert.equal(p1?.endedAt, 2000, 'barge-in stopped the prompt at once');
  assert.equal(s1.variables.k, '5');
  assert.equal(s1.status, 'completed');
  assert.equal(p0?.endedAt, null, 'no barge-in: still playing');
  await h.clock.advanceTo(10_500);
  h.engines.sendDtmf('ep0', '7');
  await h.clock.advance(1);
  assert.equal(p0?.result, 'finished');
  assert.equal(s0.variables.k, '7', 'the digit during the prompt was discarded');
});

test('collect ends on the inter-digit timeout, on the terminator and on max_digits', async (t) => {
  const flow = `
name: i
start: ask
steps:
  ask:
    type: collect
    min_digits: 1
    max_digits: 4
    terminator: "#"
    first_digit_timeout_ms: 5000
    inter_digit_timeout_ms: 3000
    variable: v
    next: after
  after:
    type: wait
    duration_ms: 1
`;
  const h = harness({ i: flow });
  t.after(() => h.service.close());
  const a = h.service.start('a', 'i');
  const b = h.service.start('b', 'i');
  const c = h.service.start('c', 'i');
  await h.clock.advanceTo(1000);
  h.engines.sendDtmf('a', '1');
  h.engines.sendDtmf('b', '12#');
  h.engines.sendDtmf('c', '123456');
  await h.clock.advanceTo(2000);
  h.engines.sendDtmf('a', '2');
  await h.clock.advanceTo(4999);
  assert.equal(a.status, 'running', 'inter-digit timer restarted by the second digit');
  await h.clock.advanceTo(5001);
  assert.equal(a.status, 'completed');
  assert.equal(a.variables.v, '12');
  assert.equal(b.variables.v, '12', 'terminator not included');
  assert.equal(c.variables.v, '1234', 'input ends at max_digits');
  const afterTimes = h.events
    .filter((e) => e.type === 'flow.step' && e.payload.step === 'after')
    .map((e) => [e.payload.endpoint_id, e.at]);
  assert.deepEqual(afterTimes.sort(), [
    ['a', 5000],
    ['b', 1000],
    ['c', 1000],
  ]);
});

test('a barge-in play hands its digit to the next collect (type-ahead)', async (t) => {
  const h = harness({
    m: `
name: m
start: hello
steps:
  hello: { type: play, media: [prompt:hello, prompt:more], barge_in: true, next: menu }
  menu:
    type: menu
    prompt: prompt:menu
    options: { "1": one, "2": two }
  one: { type: return, values: { picked: 1 } }
  two: { type: return, values: { picked: 2 } }
`,
  });
  t.after(() => h.service.close());
  const s = h.service.start('ep', 'm');
  await h.clock.advanceTo(500);
  h.engines.sendDtmf('ep', '2');
  await h.clock.advance(1);
  assert.deepEqual(s.outcome, { action: 'completed', variables: { picked: 2 } });
  assert.deepEqual(h.played(), ['prompt:hello', 'prompt:more'], 'the menu prompt was skipped');
  assert.equal(h.engines.activePlaybacks, 0);
});

test('call runs a subflow with params and maps its return values', async (t) => {
  const h = harness({
    parent: `
name: parent
variables: { base: 10 }
start: sub
steps:
  sub:
    type: call
    flow: child
    params: { x: base + 1, name: "'p'" }
    returns: { doubled: y, label: "tag + '!'" }
    next: done
  done:
    type: return
    values: { doubled: doubled, label: label }
`,
    child: `
name: child
variables: { x: { type: number, required: true } }
start: ask
steps:
  ask: { type: collect, max_digits: 1, variable: k, next: calc }
  calc: { type: set, values: { y: x * 2 }, next: out }
  out: { type: return, values: { y: y, tag: "name + k" } }
`,
  });
  t.after(() => h.service.close());
  const s = h.service.start('ep', 'parent');
  await h.clock.advance(100);
  h.engines.sendDtmf('ep', '7');
  await h.clock.advance(1);
  assert.deepEqual(s.outcome, { action: 'completed', variables: { doubled: 22, label: 'p7!' } });
  assert.deepEqual(h.steps(), ['sub', 'child/ask', 'child/calc', 'child/out', 'done']);
  assert.equal(h.engines.dtmfListeners, 0, 'parent and child unsubscribed');
});

test('hangup during play stops the playback, clears timers and completes with outcome hangup', async (t) => {
  const h = harness(
    {
      p: `
name: p
start: a
steps:
  a: { type: play, media: prompt:long, next: b }
  b: { type: wait, duration_ms: 1000 }
`,
    },
    { durationOf: () => 60_000 },
  );
  t.after(() => h.service.close());
  const s = h.service.start('ep', 'p');
  await h.clock.advance(1000);
  assert.equal(h.engines.activePlaybacks, 1);
  h.engines.hangupCaller('ep');
  await h.clock.settle();
  assert.equal(h.engines.activePlaybacks, 0, 'playback stopped');
  assert.equal(h.clock.pending, 0, 'no timers left');
  assert.equal(h.engines.dtmfListeners, 0, 'DTMF listener removed');
  assert.deepEqual(s.outcome, { action: 'hangup', cause: 'caller_hangup' });
  const done = h.events.filter((e) => e.type === 'flow.completed');
  assert.equal(done.length, 1);
  assert.deepEqual(done[0]!.payload.outcome, { action: 'hangup', cause: 'caller_hangup' });
});

test('hangup during record finalises the recording, keeps it, then runs on_hangup', async (t) => {
  const h = harness({
    r: `
name: r
start: rec
on_hangup: bye
steps:
  rec: { type: record, beep: false, max_duration_ms: 60000, silence_timeout_ms: 0, variable: msg, next: never }
  never: { type: play, media: prompt:never }
  bye: { type: log, message: "saved {{ msg.path }}" }
`,
  });
  t.after(() => h.service.close());
  const s = h.service.start('ep', 'r');
  await h.clock.advance(4000);
  assert.equal(h.engines.activeRecordings, 1);
  h.engines.hangupCaller('ep');
  await h.clock.settle();
  assert.equal(h.engines.activeRecordings, 0, 'recording finalised');
  assert.equal(h.clock.pending, 0, 'max-duration timer cleared');
  assert.equal((s.variables.msg as { cause: string }).cause, 'hangup');
  assert.equal((s.variables.msg as { duration_ms: number }).duration_ms, 4000);
  assert.deepEqual(h.steps(), ['rec', 'bye']);
  assert.equal(s.outcome?.action, 'hangup');
});

test('hangup in a collect, a conference and a subflow stops them all', async (t) => {
  const h = harness({
    c: 'name: c\nstart: a\nsteps:\n  a: { type: collect, prompt: prompt:x, max_digits: 3 }\n',
    conf: 'name: conf\nstart: a\nsteps:\n  a: { type: conference, room: r1 }\n',
    sub: 'name: sub\nstart: a\nsteps:\n  a: { type: call, flow: c }\n',
  });
  t.after(() => h.service.close());
  const sessions = [h.service.start('e1', 'c'), h.service.start('e2', 'conf'), h.service.start('e3', 'sub')];
  await h.clock.advance(2000);
  assert.equal(h.engines.activeMemberships, 1);
  assert.ok(h.clock.pending >= 2, 'collect timers running');
  for (const e of ['e1', 'e2', 'e3']) h.engines.hangupCaller(e);
  await h.clock.settle();
  for (const s of sessions) assert.equal(s.outcome?.action, 'hangup', s.flowName);
  assert.equal(h.engines.activeMemberships, 0);
  assert.equal(h.engines.activePlaybacks, 0);
  assert.equal(h.clock.pending, 0);
  assert.equal(h.engines.dtmfListeners, 0);
});

test('stopping a session stops its playback and reports outcome stopped', async (t) => {
  const h = harness(
    { p: 'name: p\nstart: a\nsteps:\n  a: { type: play, media: prompt:x }\n' },
    { durationOf: () => 60_000 },
  );
  t.after(() => h.service.close());
  const s = h.service.start('ep', 'p');
  await h.clock.advance(10);
  h.service.stopSession(s.id);
  const out = await s.done;
  assert.deepEqual(out.outcome, { action: 'stopped' });
  await h.clock.settle();
  assert.equal(s.status, 'stopped');
  assert.equal(h.engines.activePlaybacks, 0);
  assert.equal(h.engines.calls[0]?.result, 'stopped');
});

test('an engine error goes to the step on_error, then the flow on_error; error is readable', async (t) => {
  const h = harness({
    e: `
name: e
start: a
on_error: flow_err
steps:
  a: { type: play, media: prompt:x, on_error: step_err, next: b }
  step_err: { type: set, values: { where: "'step'", code: error.code }, next: b }
  b: { type: bridge, target: other }
  flow_err: { type: return, values: { where: "'flow'", msg: last_error.message } }
`,
  });
  t.after(() => h.service.close());
  h.engines.play = () => Promise.reject(new Error('no such prompt'));
  h.engines.bridge = () => Promise.reject(new Error('peer gone'));
  const s = h.service.start('ep', 'e');
  await h.clock.advance(1);
  assert.deepEqual(h.steps(), ['a', 'step_err', 'b', 'flow_err']);
  assert.deepEqual(s.outcome, { action: 'completed', variables: { where: 'flow', msg: 'peer gone' } });
});

test('transfer ends with the rendered target; hangup step hangs up the endpoint', async (t) => {
  const h = harness({
    t: 'name: t\nvariables: { ext: "200" }\nstart: a\nsteps:\n  a: { type: transfer, target: "sip:{{ ext }}@pbx" }\n',
    h: 'name: h\nstart: a\nsteps:\n  a: { type: hangup, cause: done }\n',
  });
  t.after(() => h.service.close());
  const s1 = h.service.start('e1', 't', { ext: '300' });
  const s2 = h.service.start('e2', 'h');
  await h.clock.settle();
  assert.deepEqual(s1.outcome, { action: 'transfer', target: 'sip:300@pbx' });
  assert.deepEqual(s2.outcome, { action: 'hangup', cause: 'done' });
  assert.deepEqual(
    h.engines.calls.filter((c) => c.kind === 'hangup').map((c) => [c.endpointId, c.args[0]]),
    [['e2', 'done']],
  );
});

test('start() rejects unknown flows, busy endpoints and bad variables with named errors', async (t) => {
  const h = harness({
    v: 'name: v\nvariables: { n: { type: number, required: true } }\nstart: a\nsteps:\n  a: { type: collect }\n',
  });
  t.after(() => h.service.close());
  assert.throws(() => h.service.start('e', 'nope'), { name: 'NotFoundError', code: 'FLOW_NOT_FOUND' });
  assert.throws(() => h.service.start('e', 'v', {}), { name: 'FlowValidationError', code: 'INVALID_VARIABLES' });
  assert.throws(() => h.service.start('e', 'v', { n: 'x' }), { code: 'INVALID_VARIABLES' });
  h.service.start('e', 'v', { n: 1 });
  assert.throws(() => h.service.start('e', 'v', { n: 1 }), { name: 'InvalidStateError', code: 'FLOW_ALREADY_RUNNING' });
  h.engines.hangupCaller('gone');
  assert.throws(() => h.service.start('gone', 'v', { n: 1 }), { code: 'ENDPOINT_NOT_FOUND' });
});

test('a running session keeps its version when the flow is replaced', async (t) => {
  const v = (p: string) => `name: f\nstart: a\nsteps:\n  a: { type: play, media: prompt:${p} }\n`;
  const h = harness({ f: v('one') });
  t.after(() => h.service.close());
  const s1 = h.service.start('e1', 'f');
  h.service.put('f', v('two'));
  const s2 = h.service.start('e2', 'f');
  assert.throws(() => h.service.put('f', 'name: f\nstart: x\nsteps: {}\n'), { code: 'INVALID_FLOW' });
  assert.equal(h.service.get('f').version, s2.version, 'an invalid upload replaced nothing');
  await h.clock.advance(5000);
  assert.deepEqual(h.played().sort(), ['prompt:one', 'prompt:two']);
  assert.ok(s2.version > s1.version);
});

test('a conditional loop that never waits fails the flow instead of blocking the process', async (t) => {
  const h = harness({
    l: 'name: l\nvariables: { i: 0 }\nstart: a\nsteps:\n  a: { type: set, values: { i: i + 1 }, next: b }\n  b: { type: branch, conditions: [{ if: "i > -1", goto: a }] }\n',
  });
  t.after(() => h.service.close());
  const s = h.service.start('e', 'l');
  await h.clock.settle();
  assert.equal(s.status, 'failed');
  assert.match(s.error?.message ?? '', /more than 1000 steps without waiting/);
  assert.equal(h.ended()?.type, 'flow.failed');
  assert.equal(h.engines.dtmfListeners, 0);
});

test('a step-level on_hangup overrides the flow-level one; wait and log steps run on the clock', async (t) => {
  const h = harness({
    s: `
name: s
start: pause
on_hangup: flow_level
steps:
  pause: { type: wait, duration_ms: 3000, next: note }
  note: { type: log, message: "waited {{ 3 }} s", next: ask }
  ask: { type: collect, max_digits: 1, on_hangup: step_level }
  step_level: { type: set, values: { by: "'step'" } }
  flow_level: { type: set, values: { by: "'flow'" } }
`,
  });
  t.after(() => h.service.close());
  const a = h.service.start('a', 's');
  const b = h.service.start('b', 's');
  await h.clock.advanceTo(1000);
  h.engines.hangupCaller('a');
  await h.clock.advanceTo(3500);
  assert.equal(h.stepAt('note'), 3000);
  h.engines.hangupCaller('b');
  await h.clock.settle();
  assert.equal(a.variables.by, 'flow');
  assert.equal(b.variables.by, 'step');
  assert.deepEqual([a.outcome?.action, b.outcome?.action], ['hangup', 'hangup']);
  assert.equal(h.clock.pending, 0);
});
