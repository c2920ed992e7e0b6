import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fastify, { type FastifyError } from 'fastify';
import { MediaServerError, NotFoundError, InvalidStateError } from '../../src/common/errors.ts';
import { flowRoutes } from '../../src/api/http/routes/flows.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../src/flows/testing/ManualClock.ts';

const MENU = `name: menu
start: ask
steps:
  ask:
    type: menu
    prompt: prompt:menu
    options: { "1": sales }
  sales: { type: transfer, target: "sip:sales@pbx" }
`;

async function setup(t: { after: (fn: () => unknown) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-routes-'));
  fs.writeFileSync(path.join(dir, 'menu.yaml'), MENU);
  const clock = new ManualClock();
  const engines = new FakeEngines({ clock });
  const events: Array<[string, Record<string, unknown>]> = [];
  const flows = new FlowService({ engines, dir, emit: (type, p) => events.push([type, p]) });
  flows.loadDir();
  const app = fastify();
  // Minimal stand-in for the app's error handler: named errors → {error: {code, message}}.
  app.setErrorHandler((err: FastifyError | MediaServerError, _req, reply) => {
    if (err instanceof MediaServerError) {
      const status = err instanceof NotFoundError ? 404 : err instanceof InvalidStateError ? 409 : 400;
      return reply.code(status).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    if (fe.validation) return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: fe.message } });
    return reply.code(fe.statusCode ?? 500).send({ error: { code: fe.code ?? 'INTERNAL', message: fe.message } });
  });
  await app.register(flowRoutes, { flows });
  await app.ready();
  t.after(async () => {
    await app.close();
    flows.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { app, flows, engines, clock, dir, events };
}

test('GET /flows and GET /flows/:name list flows with their YAML', async (t) => {
  const { app } = await setup(t);
  const list = await app.inject({ method: 'GET', url: '/flows' });
  assert.equal(list.statusCode, 200);
  const body = list.json();
  assert.deepEqual(
    body.flows.map((f: { name: string }) => f.name),
    ['menu'],
  );
  assert.deepEqual(body.flows[0].steps, [
    { name: 'ask', type: 'menu' },
    { name: 'sales', type: 'transfer' },
  ]);
  const one = await app.inject({ method: 'GET', url: '/flows/menu' });
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().yaml, MENU);
  const missing = await app.inject({ method: 'GET', url: '/flows/nope' });
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json().error.code, 'FLOW_NOT_FOUND');
});

test('PUT /flows/:name takes YAML or JSON {yaml}, validates it, and writes the file', async (t) => {
  const { app, dir } = await setup(t);
  const yaml = MENU.replace('name: menu', 'name: other');
  const created = await app.inject({
    method: 'PUT',
    url: '/flows/other',
    headers: { 'content-type': 'text/yaml' },
    payload: yaml,
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().name, 'other');
  assert.equal(fs.readFileSync(path.join(dir, 'other.yaml'), 'utf8'), yaml);
  const replaced = await app.inject({
    method: 'PUT',
    url: '/flows/other',
    payload: { yaml: yaml.replace('sip:sales', 'sip:s2') },
  });
  assert.equal(replaced.statusCode, 200, replaced.body);
  assert.ok(replaced.json().version > created.json().version);
  const xyaml = await app.inject({
    method: 'PUT',
    url: '/flows/other',
    headers: { 'content-type': 'application/x-yaml' },
    payload: yaml,
  });
  assert.equal(xyaml.statusCode, 200);

  const bad = await app.inject({
    method: 'PUT',
    url: '/flows/other',
    headers: { 'content-type': 'text/yaml' },
    payload: 'name: other\nstart: a\nsteps:\n  a:\n    type: plya\n',
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'INVALID_FLOW');
  assert.match(bad.json().error.message, /other\.yaml:5:11: unknown step type 'plya'/);
  const still = await app.inject({ method: 'GET', url: '/flows/other' });
  assert.equal(still.json().version, xyaml.json().version, 'the invalid upload replaced nothing');

  const renamed = await app.inject({
    method: 'PUT',
    url: '/flows/third',
    headers: { 'content-type': 'text/yaml' },
    payload: yaml,
  });
  assert.equal(renamed.statusCode, 400);
  assert.match(renamed.json().error.message, /uploaded as 'third'/);
  const badName = await app.inject({ method: 'PUT', url: '/flows/Bad.Name', payload: { yaml } });
  assert.equal(badName.statusCode, 400);
});

test('DELETE /flows/:name removes the flow and its file', async (t) => {
  const { app, dir } = await setup(t);
  const del = await app.inject({ method: 'DELETE', url: '/flows/menu' });
  assert.equal(del.statusCode, 204);
  assert.equal(fs.existsSync(path.join(dir, 'menu.yaml')), false);
  assert.equal((await app.inject({ method: 'DELETE', url: '/flows/menu' })).statusCode, 404);
});

test('POST /endpoints/:id/flow starts a session; GET/DELETE /flow-sessions inspect and stop it', async (t) => {
  const { app, clock, engines, events } = await setup(t);
  const start = await app.inject({
    method: 'POST',
    url: '/endpoints/ep-1/flow',
    payload: { flow: 'menu', variables: { caller: { number: '+1555' } } },
  });
  assert.equal(start.statusCode, 201, start.body);
  const id = start.json().session_id as string;
  assert.match(id, /^[0-9a-f-]{36}$/);
  await clock.advance(100);

  const busy = await app.inject({ method: 'POST', url: '/endpoints/ep-1/flow', payload: { flow: 'menu' } });
  assert.equal(busy.statusCode, 409);
  assert.equal(busy.json().error.code, 'FLOW_ALREADY_RUNNING');
  assert.equal(
    (await app.inject({ method: 'POST', url: '/endpoints/ep-2/flow', payload: { flow: 'nope' } })).json().error.code,
    'FLOW_NOT_FOUND',
  );
  assert.equal((await app.inject({ method: 'POST', url: '/endpoints/ep-2/flow', payload: {} })).statusCode, 400);

  const s = await app.inject({ method: 'GET', url: `/flow-sessions/${id}` });
  assert.equal(s.statusCode, 200);
  const body = s.json();
  assert.equal(body.status, 'running');
  assert.equal(body.current_step, 'ask');
  assert.deepEqual(body.variables.caller, { number: '+1555' });
  assert.deepEqual(
    body.history.map((h: { step: string }) => h.step),
    ['ask'],
  );

  const list = await app.inject({ method: 'GET', url: '/flow-sessions?status=running' });
  assert.deepEqual(
    list.json().sessions.map((x: { id: string }) => x.id),
    [id],
  );

  const stop = await app.inject({ method: 'DELETE', url: `/flow-sessions/${id}` });
  assert.equal(stop.statusCode, 200);
  assert.equal(stop.json().status, 'stopped');
  assert.deepEqual(stop.json().outcome, { action: 'stopped' });
  assert.equal(engines.activePlaybacks, 0, 'the prompt was stopped');
  assert.ok(events.some(([type, p]) => type === 'flow.completed' && p.session_id === id));
  assert.equal((await app.inject({ method: 'GET', url: '/flow-sessions/nope' })).statusCode, 404);
});

test('a session completes with the outcome visible over the API', async (t) => {
  const { app, clock, engines } = await setup(t);
  const id = (await app.inject({ method: 'POST', url: '/endpoints/ep-9/flow', payload: { flow: 'menu' } })).json()
    .session_id as string;
  await clock.advance(2000);
  engines.sendDtmf('ep-9', '1');
  await clock.settle();
  const s = (await app.inject({ method: 'GET', url: `/flow-sessions/${id}` })).json();
  assert.equal(s.status, 'completed');
  assert.deepEqual(s.outcome, { action: 'transfer', target: 'sip:sales@pbx' });
  assert.equal(s.current_step, null);
});

/** Nine levels of `&a [*a × 9]`: 9^9 nodes if expanded. */
function aliasBomb(name: string): string {
  let y = `name: ${name}\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n`;
  for (let i = 1; i < 9; i++)
    y += `  l${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  return y;
}

test('PUT /flows/:name refuses an alias bomb, deep nesting and an oversized flow with 400 INVALID_FLOW', async (t) => {
  const { app, dir } = await setup(t);
  const bodies: Array<[string, RegExp]> = [
    [aliasBomb('bomb'), /aliases expand to more than 100/],
    [
      `name: bomb\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  v: ${'['.repeat(100_000)}`,
      /nests deeper than 64/,
    ],
    [
      `name: bomb\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  v:\n    ${'- '.repeat(5000)}x\n`,
      /nests deeper than 64/,
    ],
    [
      `name: bomb\nstart: a\nsteps:\n  a: { type: hangup }\n${'# padding\n'.repeat(30_000)}`,
      /bytes; the limit is 262144/,
    ],
  ];
  for (const [yaml, why] of bodies) {
    const r = await app.inject({
      method: 'PUT',
      url: '/flows/bomb',
      headers: { 'content-type': 'text/yaml' },
      payload: yaml,
    });
    assert.equal(r.statusCode, 400, r.body.slice(0, 300));
    assert.equal(r.json().error.code, 'INVALID_FLOW');
    assert.match(r.json().error.message, why);
  }
  assert.equal(fs.existsSync(path.join(dir, 'bomb.yaml')), false);
});

test('PUT /flows/:name never writes through a link in the flows directory', async (t) => {
  const { app, dir } = await setup(t);
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-outside-'));
  t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
  const victim = path.join(outside, 'victim.txt');
  fs.writeFileSync(victim, 'keep me');
  // the temporary name the service used to write first, and the flow's own file, as links out
  fs.symlinkSync(victim, path.join(dir, `menu2.yaml.${process.pid}.tmp`));
  fs.symlinkSync(victim, path.join(dir, 'menu2.yaml'));
  const r = await app.inject({
    method: 'PUT',
    url: '/flows/menu2',
    headers: { 'content-type': 'text/yaml' },
    payload: MENU.replace('name: menu', 'name: menu2'),
  });
  assert.ok(r.statusCode === 200 || r.statusCode === 201, r.body);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'keep me');
  assert.equal(fs.lstatSync(path.join(dir, 'menu2.yaml')).isSymbolicLink(), false, 'the link itself was replaced');
});

test('FlowService.put() on a full flows directory throws INSUFFICIENT_STORAGE (507) and leaves no temporary file', async (t) => {
  const { smallTmpfs, fillDisk } = await import('../helpers/tmpfs.ts');
  const { StorageError } = await import('../../src/common/errors.ts');
  const dir = smallTmpfs(t, 64 * 1024);
  if (dir === null) {
    t.diagnostic('tmpfs not mountable here: the ENOSPC mapping is covered in test/api/recordingDiskFull.test.ts');
    return;
  }
  const flows = new FlowService({ engines: new FakeEngines({ clock: new ManualClock() }), dir });
  t.after(() => flows.close());
  fillDisk(dir);
  assert.throws(
    () => flows.put('menu', MENU),
    (e: unknown) => e instanceof StorageError && e.code === 'INSUFFICIENT_STORAGE',
  );
  assert.deepEqual(fs.readdirSync(dir), ['filler.bin']);
});
