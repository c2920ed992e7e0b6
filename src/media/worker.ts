/**
 * Entry of a media worker thread: wires the MediaWorker to the control plane's channel.
 * Nothing here may import from control, flows or api (DESIGN.md dependency direction).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../common/errors.ts';
import type { FromWorker, ParamsOf, ToWorker, WorkerSettings } from '../protocol/index.ts';
import { MediaWorker } from './MediaWorker.ts';

if (!parentPort) throw new Error('media/worker.ts must run in a worker thread');
const port = parentPort;
const { index, settings } = workerData as { index: number; settings?: WorkerSettings };

const post = (msg: FromWorker) => port.postMessage(msg);
const worker = new MediaWorker(index, (type, payload) => post({ t: 'note', type, payload }), settings ?? {});

port.on('message', (msg: ToWorker) => {
  if (msg.t === 'close') {
    worker.close();
    return;
  }
  if (msg.t !== 'req') return;
  worker.handle(msg.method, msg.params as ParamsOf<typeof msg.method>).then(
    (result) => post({ t: 'res', id: msg.id, ok: true, result }),
    (err: unknown) => post({ t: 'res', id: msg.id, ok: false, error: serializeError(err) }),
  );
});

// Ready once warm: the first call must not pay for starting encoder threads.
void worker.warmedUp().then(() => post({ t: 'ready', index }));
