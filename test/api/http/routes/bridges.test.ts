import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { BridgeInfo, EndpointInfo } from '../../../../src/control/types.ts';
import type { ApiErrorBody } from '../../../../src/api/http/errorHandler.ts';
import { createTestApp, offerSdp } from '../testApp.ts';

async function endpoint(app: FastifyInstance): Promise<EndpointInfo> {
  return (
    await app.inject({ method: 'POST', url: '/endpoints', payload: { remote_sdp: offerSdp() } })
  ).json<EndpointInfo>();
}

test('POST /bridges answers 201; GET lists and returns it; the endpoints show the bridge', async (t) => {
  const { app } = await createTestApp(t);
  const a = await endpoint(app);
  const b = await endpoint(app);
  const res = await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id, endpoint_b: b.id } });
  assert.equal(res.statusCode, 201);
  const bridge = res.json<BridgeInfo>();
  assert.equal(bridge.endpoint_a, a.id);
  assert.equal(bridge.endpoint_b, b.id);
  assert.equal(bridge.mode, 'relay');
  assert.equal(bridge.cross_worker, false);
  assert.deepEqual((await app.inject({ method: 'GET', url: '/bridges' })).json(), [bridge]);
  assert.deepEqual((await app.inject({ method: 'GET', url: `/bridges/${bridge.id}` })).json(), bridge);
  assert.equal(
    (await app.inject({ method: 'GET', url: `/endpoints/${a.id}` })).json<EndpointInfo>().bridge_id,
    bridge.id,
  );
});

test('POST /bridges on an already bridged endpoint is 409', async (t) => {
  const { app } = await createTestApp(t);
  const [a, b, c] = [await endpoint(app), await endpoint(app), await endpoint(app)];
  await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id, endpoint_b: b.id } });
  const res = await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id, endpoint_b: c.id } });
  assert.equal(res.statusCode, 409);
  assert.equal(res.json<ApiErrorBody>().error.code, 'ENDPOINT_BUSY');
});

test('POST /bridges with an unknown endpoint is 404, with a missing field 400 naming it', async (t) => {
  const { app } = await createTestApp(t);
  const a = await endpoint(app);
  const unknown = await app.inject({
    method: 'POST',
    url: '/bridges',
    payload: { endpoint_a: a.id, endpoint_b: 'ghost' },
  });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json<ApiErrorBody>().error.code, 'ENDPOINT_NOT_FOUND');
  const missing = await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id } });
  assert.equal(missing.statusCode, 400);
  assert.deepEqual(missing.json(), {
    error: { code: 'VALIDATION_ERROR', message: "body must have required property 'endpoint_b'" },
  });
  const wrong = await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id, endpoint_b: 7 } });
  assert.equal(wrong.json<ApiErrorBody>().error.message, 'body/endpoint_b must be string');
});

test('DELETE /bridges/:id answers 204, then the bridge is 404 and the endpoints are free', async (t) => {
  const { app } = await createTestApp(t);
  const a = await endpoint(app);
  const b = await endpoint(app);
  const bridge = (
    await app.inject({ method: 'POST', url: '/bridges', payload: { endpoint_a: a.id, endpoint_b: b.id } })
  ).json<BridgeInfo>();
  const del = await app.inject({ method: 'DELETE', url: `/bridges/${bridge.id}` });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  const gone = await app.inject({ method: 'GET', url: `/bridges/${bridge.id}` });
  assert.equal(gone.statusCode, 404);
  assert.equal(gone.json<ApiErrorBody>().error.code, 'BRIDGE_NOT_FOUND');
  assert.equal((await app.inject({ method: 'DELETE', url: `/bridges/${bridge.id}` })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: `/endpoints/${a.id}` })).json<EndpointInfo>().bridge_id, null);
});
