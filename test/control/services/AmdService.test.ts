import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmdService, type AmdHost } from '../../../src/control/services/AmdService.ts';
import type { AmdFinished } from '../../../src/protocol/index.ts';

/** A host that records the worker requests and the published events (no worker). */
function fakeHost() {
  const requests: Array<{ method: string; params: unknown }> = [];
  const events: Array<{ type: string; payload: Record<string, unknown> }> = [];
  const endpoints = new Set(['ep1', 'ep2']);
  const host: AmdHost = {
    events: {
      publish: ((type: string, payload: Record<string, unknown>) => {
        events.push({ type, payload });
        return { seq: events.length, type, time: '', ...payload };
      }) as unknown as AmdHost['events']['publish'],
    },
    hasEndpoint: (id) => endpoints.has(id),
    workerOf: () => 0,
    request: (async (_w: number, method: string, params: unknown) => {
      requests.push({ method, params });
      return method === 'amd.start' ? { amdId: (params as { amdId: string }).amdId } : { ok: true };
    }) as AmdHost['request'],
  };
  return { host, requests, events };
}

const finished = (amdId: string, endpointId = 'ep1'): AmdFinished => ({
  amdId,
  endpointId,
  status: 'machine',
  cause: 'MAXWORDS',
  detail: 'MAXWORDS-3-2',
  analysedMs: 1100,
  voiceMs: 500,
  words: 3,
});

test('AmdService.start() asks the endpoint’s worker with the parameters; the decision is kept and published once', async () => {
  const { host, requests, events } = fakeHost();
  const amd = new AmdService(host);
  const d = await amd.start('ep1', { greetingMs: 1200 });
  assert.deepEqual(requests, [
    { method: 'amd.start', params: { amdId: d.id, endpointId: 'ep1', parameters: { greetingMs: 1200 } } },
  ]);
  assert.equal(d.parameters.greeting, 1200);
  assert.equal(d.parameters.initial_silence, 2500);
  amd.onFinished(finished(d.id));
  amd.onFinished(finished(d.id)); // a duplicate changes nothing
  assert.deepEqual(
    events.map((e) => e.payload),
    [
      {
        endpoint_id: 'ep1',
        id: d.id,
        result: 'machine',
        cause: 'MAXWORDS',
        detail: 'MAXWORDS-3-2',
        analysed_ms: 1100,
        voice_ms: 500,
        words: 3,
      },
    ],
  );
  assert.equal(amd.get(d.id).state, 'done');
  assert.throws(() => amd.get(d.id, 'ep2'), /not found/);
});

test('AmdService: the endpoint going away ends its detections with hangup; stop() cancels; detect() waits and aborts', async () => {
  const { host, requests, events } = fakeHost();
  const amd = new AmdService(host);
  const a = await amd.start('ep1');
  const b = await amd.start('ep2');
  amd.endpointClosed('ep1');
  assert.deepEqual([amd.get(a.id).result, amd.get(a.id).cause, amd.get(b.id).state], ['hangup', 'HANGUP', 'running']);
  const stopped = await amd.stop(b.id);
  assert.deepEqual([stopped.result, stopped.cause], ['cancelled', 'CANCELLED']);
  assert.equal(requests.at(-1)?.method, 'amd.stop');
  assert.equal(events.length, 2);

  const waiting = amd.detect('ep2', {});
  await new Promise((r) => setImmediate(r));
  const id = (requests.at(-1)!.params as { amdId: string }).amdId;
  amd.onFinished(finished(id, 'ep2'));
  assert.equal((await waiting).detail, 'MAXWORDS-3-2');

  const ac = new AbortController();
  const aborted = amd.detect('ep2', {}, ac.signal);
  await new Promise((r) => setImmediate(r));
  ac.abort(new Error('left the step'));
  await assert.rejects(aborted, /left the step/);
  await new Promise((r) => setImmediate(r));
  assert.equal(requests.at(-1)?.method, 'amd.stop', 'the worker is told to stop');
});

test('AmdService refuses bad parameters and unknown endpoints, and keeps the last 1000 finished detections', async () => {
  const { host } = fakeHost();
  const amd = new AmdService(host);
  await assert.rejects(amd.start('ep1', { minWordLengthMs: 0 }), /minWordLengthMs/);
  assert.throws(() => AmdService.parseParameters({ maximum_number_of_words: 0 }), /maximumNumberOfWords/);
  assert.deepEqual(AmdService.parseParameters({ greeting: 900, other: 1 }), { greetingMs: 900 });
  await assert.rejects(amd.start('nope'), /ENDPOINT_NOT_FOUND|not found/);
  const ids: string[] = [];
  for (let i = 0; i < 1001; i++) {
    const d = await amd.start('ep1');
    ids.push(d.id);
    amd.onFinished(finished(d.id));
  }
  assert.throws(() => amd.get(ids[0]!), /not found/);
  assert.equal(amd.get(ids[1]!).state, 'done');
  assert.equal(amd.running, 0);
});

test('AmdService.detect() aborted while the worker starts the detection stops it and rejects', async () => {
  const { host, requests } = fakeHost();
  const amd = new AmdService(host);
  const ac = new AbortController();
  const p = amd.detect('ep1', {}, ac.signal);
  ac.abort(new Error('gone early')); // before the worker answered amd.start
  await assert.rejects(p, /gone early/);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    requests.map((r) => r.method),
    ['amd.start', 'amd.stop'],
  );
});
