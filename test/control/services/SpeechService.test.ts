import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpeechService, type SpeechHost } from '../../../src/control/services/SpeechService.ts';

/** A host whose worker answers speech.start when the test says so, and records every request. */
function host() {
  const requests: Array<{ method: string; params: Record<string, unknown> }> = [];
  let release: () => void = () => {};
  const started = new Promise<void>((r) => {
    release = r;
  });
  const h: SpeechHost = {
    hasEndpoint: (id) => id === 'ep',
    workerOf: () => 0,
    request: (async (_w: number, method: string, params: Record<string, unknown>) => {
      requests.push({ method, params });
      if (method === 'speech.start') await started;
      return method === 'speech.start' ? { sessionId: params.sessionId } : { ok: true };
    }) as SpeechHost['request'],
  };
  return { h, requests, release };
}

const opts = { noInputMs: 3000, maxSpeechMs: 10_000 };

test('SpeechService.recognize() starts a recognition with the default URL and settles with what speech.finished reports', async () => {
  const { h, requests, release } = host();
  const speech = new SpeechService(h, { defaultUrl: 'ws://asr.example:2700/' });
  release();
  const result = speech.recognize('ep', { ...opts, language: 'en-US', hints: ['sales'] });
  await new Promise((r) => setImmediate(r));
  const start = requests[0]!;
  assert.equal(start.method, 'speech.start');
  assert.deepEqual(
    { ...start.params, sessionId: 'x' },
    {
      sessionId: 'x',
      endpointId: 'ep',
      url: 'ws://asr.example:2700/',
      noInputMs: 3000,
      maxSpeechMs: 10_000,
      language: 'en-US',
      hints: ['sales'],
    },
  );
  speech.onFinished({
    sessionId: String(start.params.sessionId),
    endpointId: 'ep',
    status: 'recognized',
    transcript: 'sales',
    confidence: 0.6,
    speechMs: 800,
  });
  assert.deepEqual(await result, { status: 'recognized', transcript: 'sales', confidence: 0.6, speechMs: 800 });
});

test('SpeechService: an abort while speech.start is on its way stops the recognition once started', async () => {
  const { h, requests, release } = host();
  const speech = new SpeechService(h, { defaultUrl: 'ws://asr/' });
  const ac = new AbortController();
  const result = speech.recognize('ep', { ...opts, signal: ac.signal });
  await new Promise((r) => setImmediate(r));
  ac.abort();
  assert.deepEqual(
    requests.map((r) => r.method),
    ['speech.start'],
    'nothing to stop before it started',
  );
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    requests.map((r) => r.method),
    ['speech.start', 'speech.stop'],
  );
  const id = String(requests[0]!.params.sessionId);
  speech.onFinished({ sessionId: id, endpointId: 'ep', status: 'stopped', transcript: '', confidence: 0, speechMs: 0 });
  assert.equal((await result).status, 'stopped');
});

test('SpeechService refuses without a recogniser (NO_RECOGNIZER) and for an unknown endpoint; a dead worker ends its recognitions', async () => {
  const { h, release } = host();
  release();
  await assert.rejects(new SpeechService(h).recognize('ep', opts), { code: 'NO_RECOGNIZER' });
  const speech = new SpeechService(h, { defaultUrl: 'ws://asr/' });
  await assert.rejects(speech.recognize('nope', opts), { code: 'ENDPOINT_NOT_FOUND' });
  const pending = speech.recognize('ep', opts);
  await new Promise((r) => setImmediate(r));
  speech.workerDied(0);
  const r = await pending;
  assert.deepEqual([r.status, r.error], ['error', 'the media worker died']);
});
