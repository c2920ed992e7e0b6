import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { NotFoundError } from '../../../src/common/errors.ts';
import { EventBus } from '../../../src/control/EventBus.ts';
import { RecordingService, type RecordingHost } from '../../../src/control/services/RecordingService.ts';
import { fakeRequest } from '../../helpers/fakeWorker.ts';

/**
 * RecordingService paths that need no media, over a host whose worker answers when the test
 * says: a recording stopped while its worker is still opening it.
 */
interface Scripted {
  service: RecordingService;
  methods: string[];
  /** Resolves when the worker was asked to start; then answer it with `answerStart`. */
  startAsked: Promise<void>;
  answerStart(ok: boolean): void;
}

async function scripted(t: TestContext): Promise<Scripted> {
  const dir = await mkdtemp(path.join(tmpdir(), 'recording-service-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bus = new EventBus(100);
  const methods: string[] = [];
  let asked!: () => void;
  const startAsked = new Promise<void>((r) => {
    asked = r;
  });
  let answerStart: (ok: boolean) => void = () => undefined;
  const host: RecordingHost = {
    events: bus,
    config: { recordingsDir: dir },
    hasEndpoint: () => true,
    workerOf: () => 0,
    getBridge: () => {
      throw new NotFoundError('BRIDGE_NOT_FOUND', 'no bridge');
    },
    request: fakeRequest((method, params) => {
      methods.push(method);
      if (method === 'recording.start') {
        return new Promise((resolve, reject) => {
          answerStart = (ok) => (ok ? resolve({ sampleRate: 8000 }) : reject(new Error('disk full')));
          asked();
        });
      }
      if (method === 'recording.stop') {
        service.onFinished({
          recordingId: params.recordingId as string,
          path: 'x.wav',
          format: 'wav',
          durationMs: 0,
          bytes: 44,
          droppedFrames: 0,
          cause: 'stopped',
        });
      }
      return {};
    }),
  };
  const service = new RecordingService(host);
  t.after(() => service.close());
  return { service, methods, startAsked, answerStart: (ok) => answerStart(ok) };
}

test('RecordingService.stop() of a recording still starting stops it once the worker has opened it', {
  timeout: 5000,
}, async (t) => {
  const s = await scripted(t);
  const starting = s.service.start({ endpointId: 'ep1', format: 'wav' });
  await s.startAsked;
  const [listed] = s.service.list();
  assert.equal(listed?.state, 'starting');
  const stopping = s.service.stop(listed.id);
  s.answerStart(true);
  await starting;
  const result = await stopping;
  assert.equal(result.cause, 'stopped');
  assert.deepEqual(s.methods, ['recording.start', 'recording.stop']);
  assert.equal(s.service.get(listed.id).state, 'finished');
});

test('RecordingService.stop() of a recording whose start fails rejects with RECORDING_NOT_FOUND', {
  timeout: 5000,
}, async (t) => {
  const s = await scripted(t);
  const starting = s.service.start({ endpointId: 'ep1', format: 'wav' });
  await s.startAsked;
  const [listed] = s.service.list();
  assert.ok(listed);
  const stopping = s.service.stop(listed.id);
  s.answerStart(false);
  await assert.rejects(starting, /disk full/);
  await assert.rejects(stopping, { name: 'NotFoundError', code: 'RECORDING_NOT_FOUND' });
});
