import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  CapacityError,
  InvalidStateError,
  NotFoundError,
  UnsupportedError,
  ValidationError,
} from '../../../src/common/errors.ts';
import { mapError } from '../../../src/api/http/errorHandler.ts';
import type { ApiErrorBody } from '../../../src/api/http/errorHandler.ts';
import { createTestApp } from './testApp.ts';

test('mapError() maps each named error class to its status and keeps its code', () => {
  const cases: [Error, number][] = [
    [new NotFoundError('ENDPOINT_NOT_FOUND', 'm'), 404],
    [new ValidationError('INVALID_SDP', 'm'), 400],
    [new UnsupportedError('NO_COMMON_CODEC', 'm'), 400],
    [new InvalidStateError('ENDPOINT_CLOSED', 'm'), 409],
    [new CapacityError('NO_PORTS_AVAILABLE', 'm'), 503],
  ];
  for (const [err, status] of cases) {
    const mapped = mapError(err);
    assert.equal(mapped.status, status, err.name);
    assert.deepEqual(mapped.body, { error: { code: (err as NotFoundError).code, message: 'm' } });
  }
  assert.deepEqual(mapError(new TypeError('x is undefined')), {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error' } },
  });
  assert.deepEqual(mapError('a string'), {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error' } },
  });
});

test('an unexpected error is a 500 that leaks nothing and is logged with its stack', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const { app, control } = await createTestApp(t, { logger });
  control.failNext(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
  const res = await app.inject({ method: 'GET', url: '/endpoints' });
  assert.equal(res.statusCode, 500);
  assert.equal(res.body, '{"error":{"code":"INTERNAL","message":"internal error"}}');
  const logged = lines.map(
    (l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string; stack: string } },
  );
  const entry = logged.find((l) => l.msg === 'request failed');
  assert.ok(entry, 'the failure is logged');
  assert.equal(entry.level, 50);
  assert.match(entry.err?.message ?? '', /ECONNREFUSED/);
  assert.match(entry.err?.stack ?? '', /errorHandler\.test\.ts/);
});

test('malformed JSON is 400 INVALID_JSON, an empty JSON body too', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({
    method: 'POST',
    url: '/endpoints',
    headers: { 'content-type': 'application/json' },
    payload: '{"remote_sdp": ',
  });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json<ApiErrorBody>().error.code, 'INVALID_JSON');
  const empty = await app.inject({
    method: 'POST',
    url: '/bridges',
    headers: { 'content-type': 'application/json' },
    payload: '',
  });
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json<ApiErrorBody>().error.code, 'INVALID_JSON');
});

test('a non-JSON body is 415, an oversized one 413', async (t) => {
  const { app } = await createTestApp(t);
  const text = await app.inject({
    method: 'POST',
    url: '/endpoints',
    headers: { 'content-type': 'text/plain' },
    payload: 'v=0',
  });
  assert.equal(text.statusCode, 415);
  assert.equal(text.json<ApiErrorBody>().error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const big = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(300_000) },
  });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json<ApiErrorBody>().error.code, 'PAYLOAD_TOO_LARGE');
});

test('an unknown route is 404 NOT_FOUND in the error shape', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/nothing/here?x=1' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: { code: 'NOT_FOUND', message: 'no route GET /nothing/here' } });
  const method = await app.inject({ method: 'PUT', url: '/endpoints' });
  assert.equal(method.statusCode, 404);
});

test('router-level errors keep the error shape and do not echo the URL', async (t) => {
  const { app } = await createTestApp(t);
  const long = await app.inject({ method: 'GET', url: `/endpoints/${'x'.repeat(300)}` });
  assert.equal(long.statusCode, 414);
  assert.deepEqual(long.json(), { error: { code: 'URI_TOO_LONG', message: 'a path parameter is too long' } });
  const bad = await app.inject({ method: 'GET', url: '/endpoints/%E0%A4%A' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json<ApiErrorBody>().error.code, 'BAD_URL');
});
