import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVER_EVENT_TYPES } from '../../src/control/events.ts';
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
  assert.match(eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a', reason: 'deleted', extra: 1 }) ?? '', /additional/);
  assert.match(eventProblem({ ...base, type: 'endpoint.deleted', endpoint_id: 'a', reason: 'gone' }) ?? '', /allowed values/);
  assert.match(eventProblem({ ...base, type: 'worker.started', worker: '0' }) ?? '', /integer/);
  assert.match(eventProblem({ ...base, type: 'playback.started', playback_id: 'p' }) ?? '', /oneOf/);
});

test('a test server fails its close() on an event that does not match its schema', async (t) => {
  const server = await startServer();
  t.after(() => server.close().catch(() => {}));
  server.events.emit('endpoint.deleted', { endpoint_id: 'x', reason: 'deleted', extra: true });
  await assert.rejects(server.close(), /do not match schemas\/events.*additional/s);
});
