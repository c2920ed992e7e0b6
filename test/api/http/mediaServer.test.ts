import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../../src/api/http/app.ts';
import type { ApiErrorBody } from '../../../src/api/http/errorHandler.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { BridgeInfo, EndpointInfo } from '../../../src/control/types.ts';
import { RtpPeer } from '../../helpers/RtpPeer.ts';
import { startServer } from '../../helpers/server.ts';

/**
 * The same routes over the real MediaServer (one worker): its replies must satisfy the response
 * schemas (a missing or mistyped field would be a 500 from the serializer) and its errors must
 * map to the documented codes.
 */
test('the API over the real MediaServer: endpoint and bridge lifecycle, errors, readiness', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
  t.after(() => app.close());
  const peerA = await RtpPeer.open();
  const peerB = await RtpPeer.open();
  t.after(() => {
    peerA.close();
    peerB.close();
  });

  const createdA = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: peerA.offer(['pcmu']), affinity: 'call-1' },
  });
  assert.equal(createdA.statusCode, 201, createdA.body);
  const a = createdA.json<EndpointInfo>();
  assert.equal(a.codec?.name.toLowerCase(), 'pcmu');
  assert.equal(a.remote?.rtp_port, peerA.port);
  assert.match(a.sdp, /^v=0\r\n/);

  const createdB = await app.inject({
    method: 'POST',
    url: '/endpoints',
    payload: { remote_sdp: peerB.offer(['pcmu']), affinity: 'call-1' },
  });
  assert.equal(createdB.statusCode, 201, createdB.body);
  const b = createdB.json<EndpointInfo>();

  const offered = await app.inject({ method: 'POST', url: '/endpoints' });
  assert.equal(offered.statusCode, 201, offered.body);
  assert.equal(offered.json<EndpointInfo>().state, 'offered');

  const list = await app.inject({ method: 'GET', url: '/endpoints' });
  assert.equal(list.statusCode, 200, list.body);
  assert.equal(list.json<EndpointInfo[]>().length, 3);

  const hold = await app.inject({ method: 'PATCH', url: `/endpoints/${a.id}`, payload: { direction: 'sendonly' } });
  assert.equal(hold.statusCode, 200, hold.body);
  assert.equal(hold.json<EndpointInfo>().direction, 'sendonly');

  const bridged = await app.inject({
    method: 'POST',
    url: '/bridges',
    payload: { endpoint_a: a.id, endpoint_b: b.id },
  });
  assert.equal(bridged.statusCode, 201, bridged.body);
  const bridge = bridged.json<BridgeInfo>();
  assert.equal((await app.inject({ method: 'GET', url: `/bridges/${bridge.id}` })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/bridges' })).json<BridgeInfo[]>().length, 1);
  assert.equal((await app.inject({ method: 'DELETE', url: `/bridges/${bridge.id}` })).statusCode, 204);

  const missing = await app.inject({ method: 'GET', url: '/endpoints/ghost' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<ApiErrorBody>().error.code, 'ENDPOINT_NOT_FOUND');
  const badSdp = await app.inject({ method: 'POST', url: '/endpoints', payload: { remote_sdp: 'not sdp' } });
  assert.equal(badSdp.statusCode, 400);
  assert.equal(badSdp.json<ApiErrorBody>().error.code, 'INVALID_SDP');

  for (const id of [a.id, b.id, offered.json<EndpointInfo>().id]) {
    assert.equal((await app.inject({ method: 'DELETE', url: `/endpoints/${id}` })).statusCode, 204);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^msc_http_requests_total\{/m);
});
