import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEndpointBody, updateEndpointBody } from '../../../src/api/grpc/messages.ts';

test('gRPC dtmf_inband "on" / "off" / "default" becomes the REST body dtmf.inband true / false / null; another word goes to the schema as it is', () => {
  assert.deepEqual(createEndpointBody({ remote_sdp: 'v=0', dtmf_inband: 'on' }), {
    remote_sdp: 'v=0',
    dtmf: { inband: true },
  });
  assert.deepEqual(updateEndpointBody({ id: 'x', dtmf_inband: 'off' }), { dtmf: { inband: false } });
  assert.deepEqual(updateEndpointBody({ id: 'x', dtmf_inband: 'default' }), { dtmf: { inband: null } });
  assert.deepEqual(updateEndpointBody({ id: 'x', dtmf_inband: 'yes' }), { dtmf: { inband: 'yes' } });
  assert.deepEqual(createEndpointBody({ affinity: 'c1' }), { affinity: 'c1' }, 'unset: no dtmf');
});
