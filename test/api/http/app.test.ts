import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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

const flowsFile = new URL('../../../src/api/http/routes/flows.ts', import.meta.url);

test('buildApp() without flows registers no flow routes', async (t) => {
  const { app } = await createTestApp(t);
  assert.equal(app.hasRoute({ method: 'GET', url: '/flows' }), false);
});

test('buildApp() with flows registers routes/flows.ts', {
  skip: !existsSync(flowsFile) && 'routes/flows.ts not present',
}, async (t) => {
  const flows = { list: () => [] };
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
