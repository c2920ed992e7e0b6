import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../src/control/EventBus.ts';
import { SERVER_EVENT_TYPES } from '../../src/control/events.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../src/flows/testing/ManualClock.ts';
import { eventProblem, schemaEventTypes } from '../helpers/eventSchemas.ts';
import { startServer } from '../helpers/server.ts';

test('schemas/events/ and the catalogue (control/events.ts) name the same event types', () => {
  assert.deepEqual(schemaEventTypes(), [...SERVER_EVENT_TYPES].sort());
});

test('the schemas refuse an unknown type, a missing, an extra or a mistyped field', () => {
  const base = { seq: 1, time: new Date().toISOString() };
  assert.equal(eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a', reason: 'deleted' }), null);
  assert.match(eventProblem({ ...base, type: 'endpoint.closed', endpoint_id: 'a' }) ?? '', /unknown event type/);
  assert.match(eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a' }) ?? '', /reason/);
  assert.match(
    eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a', reason: 'deleted', extra: 1 }) ?? '',
    /additional/,
  );
  assert.match(
    eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a', reason: 'gone' }) ?? '',
    /allowed values/,
  );
  assert.match(eventProblem({ ...base, type: 'worker.started', worker: '0' }) ?? '', /integer/);
  assert.match(eventProblem({ ...base, type: 'playback.started', playback_id: 'p' }) ?? '', /oneOf/);
});

test('a test server fails its close() on an event that does not match its schema', async (t) => {
  const server = await startServer();
  t.after(() => server.close().catch(() => {}));
  server.events.emit('endpoint.deleted', { endpoint_id: 'x', reason: 'deleted', extra: true });
  await assert.rejects(server.close(), /do not match schemas\/events.*additional/s);
});

test("the flows' events reach the bus in the catalogue's form: flow.step keeps its step type as step_type", async (t) => {
  const bus = new EventBus(100);
  const clock = new ManualClock();
  const flows = new FlowService({ engines: new FakeEngines({ clock }), emit: bus.forFlows() });
  t.after(() => flows.close());
  flows.put('t', 'name: t\nstart: hello\nsteps:\n  hello:\n    type: play\n    media: [prompt:hello]\n');
  flows.start('ep', 't');
  await clock.advance(60_000);
  const events = bus.since(0);
  assert.deepEqual(
    events.map((e) => e.type),
    ['flow.loaded', 'flow.started', 'flow.step', 'flow.completed'],
  );
  const step = events.find((e) => e.type === 'flow.step');
  assert.equal(step?.step, 'hello');
  assert.equal(step?.step_type, 'play');
  for (const e of events) assert.equal(eventProblem(e), null, `${e.type}: ${eventProblem(e)}`);
});
