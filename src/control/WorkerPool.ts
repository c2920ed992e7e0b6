import { MessageChannel } from 'node:worker_threads';
import type { Logger } from '../common/logger.ts';
import type { NotificationType, PrepService, WorkerNotifications, WorkerSettings } from '../protocol/index.ts';
import { Doorbell } from '../common/Doorbell.ts';
import { Placement, placeEndpoint } from './Placement.ts';
import { WorkerHandle } from './WorkerHandle.ts';

/** What the pool tells its owner (MediaServer). */
export interface WorkerPoolOwner {
  /** A notification of one worker, to be handed to its owner. */
  onNotification<T extends NotificationType>(type: T, payload: WorkerNotifications[T]): void;
  /** A worker died (not while closing): what lived there must be forgotten. A replacement follows. */
  onWorkerDied(handle: WorkerHandle, code: number, error: Error | null): void;
  /** The replacement of a dead worker is ready. */
  onWorkerRestarted(index: number): void;
}

/** The prep tier's side of each worker's line to it. */
export type PrepServer = Pick<PrepService, 'serve'>;

/** A worker that dies this soon after it started is in a crash loop: its restart is delayed. */
const QUICK_DEATH_MS = 5000;
const MAX_RESTART_DELAY_MS = 5000;

/**
 * The media worker threads: spawned with their settings (and a line to the prep pool),
 * supervised, restarted at the same index when one dies (with a growing delay in a crash loop:
 * 100 ms, 200 ms, ... up to 5 s), and placed by affinity (or beside a partner leg: Placement).
 */
export class WorkerPool {
  readonly #workers: WorkerHandle[] = [];
  readonly #logger: Logger;
  readonly #settings: WorkerSettings;
  readonly #owner: WorkerPoolOwner;
  readonly #startedAt: number[] = [];
  readonly #quickDeaths: number[] = [];
  readonly #respawnTimers = new Set<NodeJS.Timeout>();
  #prep: PrepServer | null = null;
  #closing = false;
  /** Where endpoints go: by affinity key, or beside the partner leg a B2BUA will bridge them with. */
  readonly #placement = new Placement();
  /** Each worker's doorbell for its cross-worker bridges' rings (a replacement worker gets a new one). */
  readonly #doorbells = new WeakMap<WorkerHandle, SharedArrayBuffer>();

  constructor(logger: Logger, settings: WorkerSettings, owner: WorkerPoolOwner) {
    this.#logger = logger;
    this.#settings = settings;
    this.#owner = owner;
  }

  /** Starts `size` workers; resolves when all are ready. */
  async start(size: number, prep: PrepServer | null): Promise<void> {
    this.#prep = prep;
    for (let i = 0; i < size; i++) this.#workers.push(this.#spawn(i));
    await Promise.all(this.#workers.map((w) => w.ready()));
  }

  get size(): number {
    return this.#workers.length;
  }

  get all(): readonly WorkerHandle[] {
    return this.#workers;
  }

  get(index: number): WorkerHandle | undefined {
    return this.#workers[index];
  }

  /** The worker an affinity key maps to (the least loaded without one). */
  place(affinity: string | undefined): number {
    return placeEndpoint(
      affinity,
      this.#workers.map((w) => w.endpointCount),
    );
  }

  /**
   * The worker for new endpoint `id`: its affinity key's, else beside the waiting leg it will
   * likely be bridged with (`offers`: created without the peer's SDP). See Placement.
   */
  placeLeg(id: string, affinity: string | undefined, offers: boolean): number {
    const workers = this.#workers;
    return this.#placement.place(
      id,
      affinity,
      offers,
      workers.map((w) => w.endpointCount),
      performance.now(),
      workers.map((w) => w.alive),
    );
  }

  /** Endpoint `id` needs no partner any more (bridged, deleted, never created). */
  settled(id: string): void {
    this.#placement.settled(id);
  }

  /** The doorbell that wakes `worker` for the rings of its cross-worker bridges. */
  doorbellOf(worker: WorkerHandle): SharedArrayBuffer {
    let bell = this.#doorbells.get(worker);
    if (bell === undefined) {
      bell = Doorbell.create();
      this.#doorbells.set(worker, bell);
    }
    return bell;
  }

  /** No more restarts (the threads themselves are stopped by their owner's shutdown). */
  close(): void {
    this.#closing = true;
    for (const t of this.#respawnTimers) clearTimeout(t);
    this.#respawnTimers.clear();
  }

  async terminate(): Promise<void> {
    this.close();
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #spawn(index: number): WorkerHandle {
    this.#startedAt[index] = performance.now();
    // The worker's own line to the prep pool: a MessagePort beside the control channel.
    const { port1, port2 } = new MessageChannel();
    this.#prep?.serve(port1);
    const handle = new WorkerHandle(index, this.#logger, { settings: { ...this.#settings, prepPort: port2 } }, [port2]);
    handle.on('exit', () => port1.close());
    handle.on('notification', (type, payload) => this.#owner.onNotification(type, payload));
    handle.on('exit', (code, error) => this.#onExit(handle, code, error));
    return handle;
  }

  #onExit(handle: WorkerHandle, code: number, error: Error | null): void {
    if (this.#closing) return;
    const index = handle.index;
    this.#owner.onWorkerDied(handle, code, error);
    // A worker that dies soon after starting (a crash loop) is restarted with a growing delay.
    const quick = performance.now() - (this.#startedAt[index] ?? 0) < QUICK_DEATH_MS;
    this.#quickDeaths[index] = quick ? (this.#quickDeaths[index] ?? 0) + 1 : 0;
    const delay = quick ? Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (this.#quickDeaths[index]! - 1)) : 0;
    const respawn = () => {
      this.#respawnTimers.delete(timer);
      if (this.#closing) return;
      const replacement = this.#spawn(index);
      this.#workers[index] = replacement;
      replacement.ready().then(
        () => this.#owner.onWorkerRestarted(index),
        (err: unknown) => this.#logger.error({ err, worker: index }, 'replacement worker failed to start'),
      );
    };
    const timer = setTimeout(respawn, delay);
    this.#respawnTimers.add(timer);
  }
}
