import type { WorkerMethod, WorkerRequests } from '../../protocol/index.ts';

/** Sends a typed request of the protocol to one media worker (MediaServer.request, or a test's stand-in). */
export interface WorkerRequester {
  request<M extends WorkerMethod>(
    workerIndex: number,
    method: M,
    params: WorkerRequests[M]['params'],
  ): Promise<WorkerRequests[M]['result']>;
}
