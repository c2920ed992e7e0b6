import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtmfService, type DtmfHost } from '../../../src/control/services/DtmfService.ts';

/** A host that records the worker requests and knows the endpoints in `ids`. */
function host(ids: Set<string>): { host: DtmfHost; sent: Array<[string, unknown]> } {
  const sent: Array<[string, unknown]> = [];
  const h: DtmfHost = {
    events: { publish: (type, payload) => ({ seq: 1, type, ...payload }) as never },
    hasEndpoint: (id) => ids.has(id),
    workerOf: () => 0,
    request: async (_worker, method, params) => {
      sent.push([method, params]);
      return { ok: true } as never;
    },
  };
  return { host: h, sent };
}

test('DtmfService tells the worker when an endpoint gets its first digit listener and loses its last (dtmf.listen)', () => {
  const { host: h, sent } = host(new Set(['ep1', 'ep2']));
  const dtmf = new DtmfService(h);
  const off1 = dtmf.onDigit('ep1', () => {});
  const off2 = dtmf.onDigit('ep1', () => {});
  assert.deepEqual(sent, [['dtmf.listen', { endpointId: 'ep1', on: true }]], 'one request for two listeners');
  off1();
  off1(); // idempotent: the second listener still counts
  assert.equal(sent.length, 1);
  off2();
  assert.deepEqual(sent.at(-1), ['dtmf.listen', { endpointId: 'ep1', on: false }]);
  assert.equal(sent.length, 2);

  // nextDigit() listens until the press (or its abort) and then lets go.
  const abort = new AbortController();
  const next = dtmf.nextDigit('ep2', abort.signal);
  assert.deepEqual(sent.at(-1), ['dtmf.listen', { endpointId: 'ep2', on: true }]);
  dtmf.onPressed({ endpointId: 'ep2', digit: '5', source: 'inband', durationMs: 80 });
  return next.then((press) => {
    assert.equal(press.digit, '5');
    assert.deepEqual(sent.at(-1), ['dtmf.listen', { endpointId: 'ep2', on: false }]);
  });
});

test('DtmfService sends nothing for an endpoint that closed, nor for one it does not know', () => {
  const ids = new Set(['ep1']);
  const { host: h, sent } = host(ids);
  const dtmf = new DtmfService(h);
  const off = dtmf.onDigit('ep1', () => {});
  assert.equal(sent.length, 1);
  ids.delete('ep1');
  dtmf.endpointClosed('ep1');
  off();
  assert.equal(sent.length, 1, 'the endpoint is gone: no dtmf.listen {on: false}');
  const offUnknown = dtmf.onDigit('nope', () => {});
  offUnknown();
  assert.equal(sent.length, 1);
});
