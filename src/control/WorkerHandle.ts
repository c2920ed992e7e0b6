import { Worker, type Transferable } from 'node:worker_threads';
import { deserializeError, InvalidStateError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { TypedEmitter } from '../common/TypedEmitter.ts';
import type {
  FromWorker,
  NotificationType,
  ToWorker,
  WorkerMethod,
  WorkerNotifications,
  WorkerRequests,
  WorkerSettings,
} from '../protocol/index.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

type HandleEvents = {
  notification: <T extends NotificationType>(type: T, payload: WorkerNotifications[T]) => void;
  exit: (code: number, error: Error | null) => void;
};

/** Same extension as this module: .ts under tsx, .js once compiled. */
const runningTs = import.meta.url.endsWith('.ts');
const workerUrl = new URL(runningTs ? '../media/worker.ts' : '../media/worker.js', import.meta.url);

/**
 * A media worker's young generation is kept small: a scavenge stops the worker's packets for as
 * long as it copies what survives, and with V8's default (16 MB semi-spaces) the first one after
 * a burst of call set-ups copied ~10 MB in ~20 ms, a spike in every relayed call's latency. Small
 * semi-spaces promote set-up objects early, in pauses of a few milliseconds at most.
 */
const MEDIA_WORKER_LIMITS = { maxYoungGenerationSizeMb: 6 };

/**
 * Under tsx the loader hooks of the main thread do not reach worker threads on Node 20, so a
 * TypeScript worker is started through a tiny bootstrap that registers tsx first.
 */
function startWorker(workerData: Record<string, unknown>, transferList: Transferable[]): Worker {
  if (!runningTs) return new Worker(workerUrl, { workerData, transferList, resourceLimits: MEDIA_WORKER_LIMITS });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData, transferList, resourceLimits: MEDIA_WORKER_LIMITS });
}

/**
 * The control plane's end of one media worker thread: typed requests with a promise per
 * response, notifications as events, and an `exit` event when the thread dies.
 */
export class WorkerHandle extends TypedEmitter<HandleEvents> {
  readonly index: number;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #logger: Logger;
  #nextId = 1;
  #ready: Promise<void>;
  #rejectReady: (err: Error) => void = () => {};
  #alive = true;
  /** Endpoints placed here: the placement's load measure. */
  endpointCount = 0;

  /** `transfer`: MessagePorts inside workerData, handed over to the thread. */
  constructor(
    index: number,
    logger: Logger,
    workerData: { settings?: WorkerSettings } = {},
    transfer: Transferable[] = [],
  ) {
    super();
    this.index = index;
    this.#logger = logger;
    this.#worker = startWorker({ ...workerData, index }, transfer);
    this.#ready = new Promise((resolve, reject) => {
      this.#rejectReady = reject;
      const onMessage = (msg: FromWorker) => {
        if (msg.t === 'ready') {
          this.#worker.off('error', reject);
          resolve();
        }
      };
      this.#worker.on('message', onMessage);
      this.#worker.once('error', reject);
    });
    // Awaited by whoever starts the worker; marked handled so a late exit never crashes the process.
    this.#ready.catch(() => {});
    this.#worker.on('message', (msg: FromWorker) => this.#onMessage(msg));
    this.#worker.on('error', (err) => {
      this.#logger.error({ err, worker: index }, 'media worker error');
      this.#lastError = err;
    });
    this.#worker.on('exit', (code) => {
      this.#alive = false;
      const err = new InvalidStateError('WORKER_DIED', `media worker ${index} exited (code ${code})`);
      // A thread that exits before 'ready' (terminated while starting) must not leave start() waiting forever.
      this.#rejectReady(err);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      this.emit('exit', code, this.#lastError);
    });
  }

  #lastError: Error | null = null;

  get alive(): boolean {
    return this.#alive;
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  request<M extends WorkerMethod>(
    method: M,
    params: WorkerRequests[M]['params'],
    transfer?: readonly Transferable[],
  ): Promise<WorkerRequests[M]['result']> {
    if (!this.#alive) {
      return Promise.reject(new InvalidStateError('WORKER_DIED', `media worker ${this.index} is not running`));
    }
    const id = this.#nextId++;
    const msg: ToWorker = { t: 'req', id, method, params };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.#worker.postMessage(msg, transfer);
      } catch (err) {
        // parameters that cannot be cloned: no answer will come for this id
        this.#pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #onMessage(msg: FromWorker): void {
    if (msg.t === 'res') {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(deserializeError(msg.error));
    } else if (msg.t === 'note') {
      this.emit('notification', msg.type, msg.payload as WorkerNotifications[typeof msg.type]);
    }
  }

  /** Stops the thread; pending requests fail. Idempotent. */
  async terminate(): Promise<void> {
    if (!this.#alive) return;
    await this.#worker.terminate();
  }
}
