import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidStateError } from '../../src/common/errors.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { WorkerHandle } from '../../src/control/WorkerHandle.ts';

test('WorkerHandle.ready() rejects when the thread exits before it is ready', { timeout: 10_000 }, async (t) => {
  const handle = new WorkerHandle(0, silentLogger);
  t.after(() => handle.terminate());
  const ready = handle.ready();
  await handle.terminate();
  await assert.rejects(ready, InvalidStateError);
  assert.equal(handle.alive, false);
});

test('WorkerHandle.request() rejects at once when its parameters cannot be sent, and the worker keeps answering', {
  timeout: 10_000,
}, async (t) => {
  const handle = new WorkerHandle(0, silentLogger);
  t.after(() => handle.terminate());
  await handle.ready();
  await assert.rejects(
    handle.request('endpoint.stats', { id: (() => 'x') as never }),
    /could not be cloned|DataCloneError/,
  );
  const metrics = await handle.request('worker.metrics', {});
  assert.equal(metrics.workerIndex, 0);
});
