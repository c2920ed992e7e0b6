import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startGrpcServer } from '../../../src/api/grpc/GrpcServer.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { startServer } from '../../helpers/server.ts';
import { GrpcTestClient } from './grpcClient.ts';

test('gRPC Drain: the server takes no new endpoints (RESOURCE_EXHAUSTED, as every 503, with DRAINING) and reports the legs left', async (t) => {
  const server = await startServer({ GRPC_PORT: '0' });
  t.after(() => server.close());
  const grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
  t.after(() => grpc.close());
  const client = new GrpcTestClient(grpc.port);
  t.after(() => client.close());

  await client.call('CreateEndpoint', { codecs: ['pcmu'] });
  assert.deepEqual(await client.call('Drain', {}), { draining: true, endpoints: 1 });
  assert.deepEqual(await client.call('Drain', {}), { draining: true, endpoints: 1 }, 'idempotent');
  await assert.rejects(client.call('CreateEndpoint', { codecs: ['pcmu'] }), (err: ServiceError) => {
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^DRAINING: /);
    return true;
  });
});
