import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildOperatorApp } from '../../../src/api/http/operatorApp.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { createTestApp } from './testApp.ts';

test('the operator listener (METRICS_PORT) serves /metrics, /ready and /health without the token, and nothing else', async (t) => {
  const { app, control } = await createTestApp(t, { token: 'op-secret' });
  const operator = await buildOperatorApp({ control, metrics: app.apiMetrics, logger: silentLogger });
  t.after(() => operator.close());

  assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401, 'the API keeps its token');
  const metrics = await operator.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^# HELP /m);
  assert.equal((await operator.inject({ url: '/ready' })).statusCode, 200);
  assert.equal((await operator.inject({ url: '/health' })).statusCode, 200);
  for (const url of ['/endpoints', '/docs', '/events', '/flows']) {
    const res = await operator.inject({ url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error.code, 'NOT_FOUND');
  }
});
