import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { tokenMatches } from '../../../src/api/http/auth.ts';
import { createTestApp } from './testApp.ts';

const TOKEN = 's3cret-token-value';

test('tokenMatches() accepts only the exact token, whatever the lengths', () => {
  assert.equal(tokenMatches(TOKEN, TOKEN), true);
  assert.equal(tokenMatches(TOKEN, `${TOKEN}x`), false);
  assert.equal(tokenMatches(TOKEN, TOKEN.slice(0, -1)), false);
  assert.equal(tokenMatches(TOKEN, ''), false);
  assert.equal(tokenMatches(TOKEN, undefined), false);
});

test('with apiToken set, API routes answer 401 without the bearer token and 2xx with it', async (t) => {
  const { app } = await createTestApp(t, { token: TOKEN });
  for (const url of ['/endpoints', '/bridges', '/ready', '/metrics', '/docs', '/docs/json', '/no-such-route']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 401, url);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED', url);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  }
  const wrong = await app.inject({ method: 'POST', url: '/endpoints', headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.statusCode, 401);
  const basic = await app.inject({ method: 'GET', url: '/endpoints', headers: { authorization: `Basic ${TOKEN}` } });
  assert.equal(basic.statusCode, 401);
  const ok = await app.inject({ method: 'POST', url: '/endpoints', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.statusCode, 201);
  for (const url of ['/metrics', '/docs/json']) {
    assert.equal(
      (await app.inject({ method: 'GET', url, headers: { authorization: `bearer ${TOKEN}` } })).statusCode,
      200,
      url,
    );
  }
});

test('with apiToken set, ?token= is refused outside /events', async (t) => {
  const { app } = await createTestApp(t, { token: TOKEN });
  const res = await app.inject({ method: 'GET', url: `/endpoints?token=${TOKEN}` });
  assert.equal(res.statusCode, 401);
});

test('/health stays open with apiToken set, for liveness probes', async (t) => {
  const { app } = await createTestApp(t, { token: TOKEN });
  const res = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(res.statusCode, 200);
});

test('without apiToken every route is open', async (t) => {
  const { app } = await createTestApp(t);
  assert.equal((await app.inject({ method: 'GET', url: '/endpoints' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

async function listen(app: import('fastify').FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/events`;
}

/** Resolves with the HTTP status of a refused upgrade, or 101 once open (then closes it). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

test('/events WebSocket upgrade needs the token: header or ?token=, else 401', async (t) => {
  const { app } = await createTestApp(t, { token: TOKEN });
  const url = await listen(app);
  assert.equal(await upgradeStatus(url), 401);
  assert.equal(await upgradeStatus(`${url}?token=wrong`), 401);
  assert.equal(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` }), 101);
  assert.equal(await upgradeStatus(`${url}?token=${TOKEN}`), 101);
});

test('/events WebSocket upgrade is open without apiToken', async (t) => {
  const { app } = await createTestApp(t);
  const url = await listen(app);
  assert.equal(await upgradeStatus(url), 101);
});
