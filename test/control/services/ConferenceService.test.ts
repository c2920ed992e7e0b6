import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConferenceService, type ConferenceHost } from '../../../src/control/services/ConferenceService.ts';
import { EventBus } from '../../../src/control/EventBus.ts';
import { fakeRequest } from '../../helpers/fakeWorker.ts';

/** A host whose worker answers `conference.create` only when told to. */
function fakeHost(): { host: ConferenceHost; requests: string[]; answerCreate: () => void } {
  const requests: string[] = [];
  let answerCreate: () => void = () => undefined;
  const host: ConferenceHost = {
    events: new EventBus(10),
    hasEndpoint: () => true,
    workerOf: () => 0,
    workerForAffinity: () => 0,
    assertAdmitting: () => undefined,
    request: fakeRequest((method) => {
      requests.push(method);
      if (method === 'conference.create')
        return new Promise((resolve) => {
          answerCreate = () => resolve({});
        });
      return {};
    }),
  };
  return { host, requests, answerCreate: () => answerCreate() };
}

test('ConferenceService.join() aborted while the room is being created resolves stopped and never joins', {
  timeout: 5000,
}, async (t) => {
  const { host, requests, answerCreate } = fakeHost();
  const service = new ConferenceService(host);
  t.after(() => service.close());
  const ac = new AbortController();
  const joined = service.join('ep-1', 'room-1', {}, ac.signal);
  await Promise.resolve();
  assert.deepEqual(requests, ['conference.create']);
  ac.abort();
  answerCreate();
  assert.deepEqual(await joined, { reason: 'stopped' });
  assert.equal(requests.includes('conference.join'), false);
});
