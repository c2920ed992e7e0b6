import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointInfo } from '../../../../src/control/types.ts';
import type { ApiErrorBody } from '../../../../src/api/http/errorHandler.ts';
import { createTestApp, offerSdp } from '../testApp.ts';

test('POST /endpoints with remote_sdp answers 201 with the negotiated endpoint', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: offerSdp(40000), affinity: 'call-1' },
  });
  assert.equal(res.statusCode, 201);
  const ep = res.json<EndpointInfo>();
  assert.equal(ep.state, 'active');
  assert.equal(typeof ep.id, 'string');
  assert.match(ep.sdp, /^v=0/);
  assert.equal(ep.codec?.name, 'PCMU');
  assert.deepEqual(ep.remote, { ip: '192.0.2.10', rtp_port: 40000, rtcp_port: 40001 });
  assert.equal(ep.affinity, 'call-1');
  assert.equal(ep.stats.rtt_ms, null);
  assert.deepEqual(ep.stats.dropped, {});
});

test('POST /endpoints without a body allocates an offer with defaults', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'POST', url: '/endpoints' });
  assert.equal(res.statusCode, 201);
  const ep = res.json<EndpointInfo>();
  assert.equal(ep.state, 'offered');
  assert.equal(ep.direction, 'sendrecv');
  assert.equal(ep.codec, null);
});

test('POST /endpoints rejects a wrong type, naming the field', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'POST', url: '/endpoints', payload: { remote_sdp: 123 } });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: { code: 'VALIDATION_ERROR', message: 'body/remote_sdp must be string' } });
});

test('POST /endpoints rejects an unknown field instead of dropping it', async (t) => {
  const { app, control } = await createTestApp(t);
  const res = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: offerSdp(), remote_spd: 'x' },
  });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json<ApiErrorBody>().error.message, 'body/remote_spd is not allowed');
  assert.equal((await control.listEndpoints()).length, 0);
});

test('POST /endpoints rejects an unknown codec and direction, listing the allowed values', async (t) => {
  const { app } = await createTestApp(t);
  const codec = await app.inject({ method: 'POST', url: '/endpoints', payload: { codecs: ['pcmu', 'g729'] } });
  assert.equal(codec.statusCode, 400);
  assert.equal(
    codec.json<ApiErrorBody>().error.message,
    'body/codecs/1 must be one of: pcmu, pcma, g722, opus, l16, telephone-event',
  );
  const dir = await app.inject({ method: 'POST', url: '/endpoints', payload: { direction: 'both' } });
  assert.equal(dir.statusCode, 400);
  assert.match(
    dir.json<ApiErrorBody>().error.message,
    /^body\/direction must be one of: sendrecv, sendonly, recvonly, inactive$/,
  );
  const dup = await app.inject({ method: 'POST', url: '/endpoints', payload: { codecs: ['pcmu', 'pcmu'] } });
  assert.equal(dup.statusCode, 400);
  assert.match(dup.json<ApiErrorBody>().error.message, /^body\/codecs /);
});

test('POST /endpoints maps the control plane errors: INVALID_SDP and NO_COMMON_CODEC 400, NO_PORTS_AVAILABLE 503', async (t) => {
  const { app } = await createTestApp(t, { maxEndpoints: 1 });
  const bad = await app.inject({ method: 'POST', url: '/endpoints', payload: { remote_sdp: 'hello' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json<ApiErrorBody>().error.code, 'INVALID_SDP');
  const noCodec = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: offerSdp(40000, '18'), codecs: ['pcmu'] },
  });
  assert.equal(noCodec.statusCode, 400);
  assert.equal(noCodec.json<ApiErrorBody>().error.code, 'NO_COMMON_CODEC');
  assert.equal((await app.inject({ method: 'POST', url: '/endpoints' })).statusCode, 201);
  const full = await app.inject({ method: 'POST', url: '/endpoints' });
  assert.equal(full.statusCode, 503);
  assert.deepEqual(full.json(), { error: { code: 'NO_PORTS_AVAILABLE', message: 'no RTP ports available' } });
});

test('GET /endpoints lists and GET /endpoints/:id returns one; an unknown id is 404', async (t) => {
  const { app } = await createTestApp(t);
  const a = (await app.inject({ method: 'POST', url: '/endpoints' })).json<EndpointInfo>();
  const b = (
    await app.inject({ method: 'POST', url: '/endpoints', payload: { remote_sdp: offerSdp() } })
  ).json<EndpointInfo>();
  const list = await app.inject({ method: 'GET', url: '/endpoints' });
  assert.equal(list.statusCode, 200);
  assert.deepEqual(
    list.json<EndpointInfo[]>().map((e) => e.id),
    [a.id, b.id],
  );
  const one = await app.inject({ method: 'GET', url: `/endpoints/${b.id}` });
  assert.equal(one.statusCode, 200);
  assert.deepEqual(one.json(), b);
  const missing = await app.inject({ method: 'GET', url: '/endpoints/nope' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<ApiErrorBody>().error.code, 'ENDPOINT_NOT_FOUND');
});

test('PATCH /endpoints/:id applies the answer and direction; an empty body is 400', async (t) => {
  const { app } = await createTestApp(t);
  const ep = (await app.inject({ method: 'POST', url: '/endpoints' })).json<EndpointInfo>();
  const answered = await app.inject({
    method: 'PATCH',
    url: `/endpoints/${ep.id}`,
    payload: { remote_sdp: offerSdp(41000, '8') },
  });
  assert.equal(answered.statusCode, 200);
  assert.equal(answered.json<EndpointInfo>().state, 'active');
  assert.equal(answered.json<EndpointInfo>().codec?.name, 'PCMA');
  const hold = await app.inject({ method: 'PATCH', url: `/endpoints/${ep.id}`, payload: { direction: 'sendonly' } });
  assert.equal(hold.json<EndpointInfo>().direction, 'sendonly');
  const empty = await app.inject({ method: 'PATCH', url: `/endpoints/${ep.id}`, payload: {} });
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json<ApiErrorBody>().error.code, 'VALIDATION_ERROR');
  const affinity = await app.inject({ method: 'PATCH', url: `/endpoints/${ep.id}`, payload: { affinity: 'x' } });
  assert.equal(affinity.json<ApiErrorBody>().error.message, 'body/affinity is not allowed');
  const missing = await app.inject({ method: 'PATCH', url: '/endpoints/nope', payload: { direction: 'inactive' } });
  assert.equal(missing.statusCode, 404);
});

test('DELETE /endpoints/:id answers 204 with no body, then the id is 404', async (t) => {
  const { app } = await createTestApp(t);
  const ep = (await app.inject({ method: 'POST', url: '/endpoints' })).json<EndpointInfo>();
  const del = await app.inject({ method: 'DELETE', url: `/endpoints/${ep.id}` });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  assert.equal((await app.inject({ method: 'GET', url: `/endpoints/${ep.id}` })).statusCode, 404);
  assert.equal((await app.inject({ method: 'DELETE', url: `/endpoints/${ep.id}` })).statusCode, 404);
});

test('GET /endpoints/:id rejects an over-long id before reaching the control plane', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: `/endpoints/${'x'.repeat(200)}` });
  assert.equal(res.statusCode, 400);
  assert.match(res.json<ApiErrorBody>().error.message, /^params\/id must NOT have more than 128 characters$/);
});
