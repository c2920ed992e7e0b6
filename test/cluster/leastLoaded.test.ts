import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberRecord } from '../../src/cluster/ClusterKeys.ts';
import { leastLoaded } from '../../src/cluster/leastLoaded.ts';

function member(id: string, load: number, endpoints: number, extra: Partial<MemberRecord> = {}): MemberRecord {
  return {
    id,
    api_url: `http://${id}`,
    grpc_url: null,
    media_address: '127.0.0.1',
    free_ports: 100,
    endpoints,
    load,
    state: 'ready',
    started_at: '',
    heartbeat_at: '',
    ...extra,
  };
}

test('leastLoaded: lowest load, then fewer endpoints, then the instance asked, then the lowest id', () => {
  assert.equal(leastLoaded([member('a', 0.5, 5), member('b', 0.2, 9)], 'a')?.id, 'b');
  assert.equal(leastLoaded([member('a', 0.2, 5), member('b', 0.2, 4)], 'a')?.id, 'b');
  assert.equal(leastLoaded([member('a', 0.2, 4), member('b', 0.2, 4)], 'b')?.id, 'b');
  assert.equal(leastLoaded([member('c', 0, 0), member('b', 0, 0)], 'x')?.id, 'b');
});

test('leastLoaded: draining members and members without a free port pair take no calls', () => {
  assert.equal(leastLoaded([member('a', 0, 0, { state: 'draining' }), member('b', 0.9, 90)], 'a')?.id, 'b');
  assert.equal(leastLoaded([member('a', 0, 0, { free_ports: 1 }), member('b', 0.9, 90)], 'a')?.id, 'b');
  assert.equal(leastLoaded([member('a', 0, 0, { state: 'draining' })], 'a'), null);
  assert.equal(leastLoaded([], 'a'), null);
});
