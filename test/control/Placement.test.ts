import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Placement, placeEndpoint } from '../../src/control/Placement.ts';

test('placeEndpoint() keeps an affinity key on one worker and otherwise takes the least loaded', () => {
  assert.equal(placeEndpoint('call-1', [0, 0, 0]), placeEndpoint('call-1', [5, 0, 9]));
  assert.equal(placeEndpoint(null, [3, 1, 2]), 1);
  assert.throws(() => placeEndpoint(null, []));
});

test("Placement puts a B2BUA's offering leg beside its answering leg, and spreads the calls", () => {
  const p = new Placement();
  const loads = [0, 0];
  const place = (id: string, offers: boolean, affinity?: string) => {
    const w = p.place(id, affinity, offers, loads, 0);
    loads[w]!++;
    return w;
  };
  const a1 = place('a1', false);
  const b1 = place('b1', true);
  assert.equal(b1, a1);
  const a2 = place('a2', false);
  const b2 = place('b2', true);
  assert.equal(b2, a2);
  assert.notEqual(a2, a1, 'the second call goes to the other worker');
  assert.equal(p.waiting, 0, 'claimed legs wait no more');
});

test('Placement pairs the most recent waiting leg, so legs never bridged do not shift later calls', () => {
  const p = new Placement();
  const loads = [0, 0, 0];
  const place = (id: string, offers: boolean) => {
    const w = p.place(id, undefined, offers, loads, 0);
    loads[w]!++;
    return w;
  };
  place('ivr-1', false); // an IVR-only call: never bridged
  place('ivr-2', false);
  for (let call = 0; call < 5; call++) {
    const a = place(`a${call}`, false);
    assert.equal(place(`b${call}`, true), a, `call ${call}`);
  }
  assert.equal(p.waiting, 2);
});

test('Placement leaves same-role legs unpaired, honours affinity, and forgets settled and expired legs', () => {
  const p = new Placement({ partnerWindowMs: 1000 });
  const loads = [0, 0];
  const a = p.place('a', undefined, false, loads, 0);
  loads[a]!++;
  const b = p.place('b', undefined, false, loads, 0);
  assert.notEqual(b, a, 'two answering legs: no pairing, least loaded');
  loads[b]!++;
  // Affinity wins and claims nothing.
  assert.equal(p.place('x', 'call-9', true, loads, 0), placeEndpoint('call-9', loads));
  assert.equal(p.waiting, 2);
  p.settled('b');
  assert.equal(p.place('c', undefined, true, loads, 10), a, 'b was bridged: c pairs with a');
  p.place('d', undefined, false, [0, 0], 20);
  assert.equal(p.waiting, 1);
  assert.equal(p.place('e', undefined, true, [1, 0], 2000), 1, 'd expired: least loaded');
  assert.equal(p.waiting, 1, 'e waits itself');
});

test('Placement never pairs with a leg on a worker that is down or gone', () => {
  const p = new Placement();
  const a = p.place('a', undefined, false, [0, 1], 0);
  assert.equal(a, 0);
  assert.equal(p.place('b', undefined, true, [0, 1], 0, [false, true]), 1, 'nor least loaded on it');
  p.settled('b');
  const c = p.place('c', undefined, false, [1, 1, 0], 0);
  assert.equal(c, 2);
  assert.equal(p.place('d', undefined, true, [0, 0], 0), 0, 'worker 2 no longer exists');
});
