import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowService } from '../../../src/flows/FlowService.ts';
import { FakeEngines } from '../../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../../src/flows/testing/ManualClock.ts';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../../src/common/errors.ts';
import { createTestApp } from './testApp.ts';

test('buildApp() registers extraRoutes behind the same auth and error mapping', async (t) => {
  const extra = async (app: FastifyInstance): Promise<void> => {
    app.get('/extra/:id', async () => {
      throw new NotFoundError('THING_NOT_FOUND', 'no such thing');
    });
  };
  const { app } = await createTestApp(t, { token: 'tok', extraRoutes: [extra] });
  assert.equal((await app.inject({ method: 'GET', url: '/extra/1' })).statusCode, 401);
  const res = await app.inject({ method: 'GET', url: '/extra/1', headers: { authorization: 'Bearer tok' } });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: { code: 'THING_NOT_FOUND', message: 'no such thing' } });
});

test('buildApp() without flows registers no flow routes', async (t) => {
  const { app } = await createTestApp(t);
  assert.equal(app.hasRoute({ method: 'GET', url: '/flows' }), false);
});

test('buildApp() with flows registers the flow routes', async (t) => {
  const flows = new FlowService({ engines: new FakeEngines({ clock: new ManualClock() }) });
  t.after(() => flows.close());
  const { app } = await createTestApp(t, { flows });
  assert.equal(app.hasRoute({ method: 'GET', url: '/flows' }), true);
});

test('buildApp() counts requests per route in its own registry, not the global one', async (t) => {
  const a = await createTestApp(t);
  const b = await createTestApp(t);
  await a.app.inject({ method: 'GET', url: '/endpoints' });
  const body = (await b.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.doesNotMatch(body, /route="\/endpoints"/);
});
