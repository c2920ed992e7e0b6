import assert from 'node:assert/strict';
import test from 'node:test';
import { decodeEntry, seqOfEntryId } from '../../src/cluster/streamEntry.ts';

test('decodeEntry() gives the event the cluster seq and its instance, payload fields first', () => {
  const json = JSON.stringify({ endpoint_id: 'e1', reason: 'deleted', seq: 7, type: 'endpoint.deleted', time: 't' });
  const e = decodeEntry('42-0', ['instance', 'a', 'event', json]);
  assert.deepEqual(e, {
    endpoint_id: 'e1',
    reason: 'deleted',
    seq: 42,
    type: 'endpoint.deleted',
    time: 't',
    instance: 'a',
  });
  assert.deepEqual(Object.keys(e!), ['endpoint_id', 'reason', 'seq', 'type', 'time', 'instance']);
});

test('decodeEntry() skips entries this schema did not write', () => {
  const json = JSON.stringify({ seq: 1, type: 'x.y', time: 't' });
  assert.equal(decodeEntry('1700000000000-3', ['instance', 'a', 'event', json]), null);
  assert.equal(decodeEntry('5-0', ['event', json]), null);
  assert.equal(decodeEntry('5-0', ['instance', 'a', 'event', '{bad']), null);
  assert.equal(decodeEntry('5-0', ['instance', 'a', 'event', '[1]']), null);
  assert.equal(seqOfEntryId('0-0'), null);
  assert.equal(seqOfEntryId('12-0'), 12);
});
