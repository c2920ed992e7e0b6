import type { WorkerMethod } from '../../src/protocol/index.ts';
import type { WorkerRequester } from '../../src/control/services/WorkerRequester.ts';

/**
 * A stand-in for MediaServer.request in service tests: `answer` sees each request as plain data
 * and returns what the worker would (the test states the shape it needs).
 */
export function fakeRequest(
  answer: (method: WorkerMethod, params: Record<string, unknown>, workerIndex: number) => unknown,
): WorkerRequester['request'] {
  return async (workerIndex, method, params) =>
    (await answer(method, params as Record<string, unknown>, workerIndex)) as never;
}
