import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp } from '../testApp.ts';

test('GET /health answers 200 {status: ok}', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok' });
});

test('GET /ready follows control.isReady(): 200, then 503 while not ready', async (t) => {
  const { app, control } = await createTestApp(t);
  assert.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
  control.ready = false;
  const res = await app.inject({ method: 'GET', url: '/ready' });
  assert.equal(res.statusCode, 503);
  assert.deepEqual(res.json(), { status: 'not_ready' });
});

test('GET /metrics serves the control plane text followed by the API request counters', async (t) => {
  const { app } = await createTestApp(t);
  await app.inject({ method: 'POST', url: '/endpoints' });
  await app.inject({ method: 'GET', url: '/endpoints/nope' });
  await app.inject({ method: 'GET', url: '/endpoints/also-nope' });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(res.body, /^media_endpoints 1$/m);
  assert.match(res.body, /^msc_http_requests_total\{method="POST",route="\/endpoints",status_code="201"\} 1$/m);
  // labelled by route pattern, so ids do not explode the label set
  assert.match(res.body, /^msc_http_requests_total\{method="GET",route="\/endpoints\/:id",status_code="404"\} 2$/m);
  assert.match(res.body, /^msc_http_request_duration_seconds_count\{method="GET",route="\/endpoints\/:id"\} 2$/m);
  assert.match(res.body, /^msc_ws_slow_consumer_disconnects_total 0$/m);
  // two expositions joined: every HELP line is on a line of its own
  assert.doesNotMatch(res.body, /\S# HELP/);
});
