import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type { EventBus } from './EventBus.ts';
import type { ServerEvent } from './types.ts';

export interface WebhookDeliveryOptions {
  bus: EventBus;
  /** Receiver; gets `POST` with a JSON array of events, oldest first. */
  url: string;
  logger?: Logger;
  /** Most events per POST. */
  maxBatch?: number;
  /** Events waiting at most; beyond it the oldest are dropped and counted. */
  maxQueue?: number;
  /** How long the first event of a batch waits for company before the POST. */
  lingerMs?: number;
  /** Per-request timeout (AbortSignal.timeout). */
  timeoutMs?: number;
  /** Attempts per batch, the first included; then the batch is dropped and counted. */
  maxAttempts?: number;
  /** Backoff before retry n (1-based): min(maxDelayMs, baseDelayMs * 2^(n-1)), +-20 % jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface WebhookDeliveryStats {
  /** Events the receiver accepted (2xx). */
  delivered: number;
  /** Events dropped: queue overflow or a batch out of attempts or refused with a 4xx. */
  dropped: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Events waiting now. */
  queued: number;
}

/**
 * Pushes every bus event to `config.webhookUrl` in batches. The bus listener only enqueues (it
 * runs inside emitters); one sender loop posts, retrying with exponential backoff, so batches
 * arrive in seq order. Memory is bounded by `maxQueue`; receivers see dropped events as gaps in
 * `seq`. `close()` stops at once: the request in flight and any backoff wait are aborted.
 */
export class WebhookDelivery {
  readonly #url: string;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #lingerMs: number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #fetch: typeof fetch;
  readonly #abort = new AbortController();
  readonly #unsubscribe: () => void;
  /** FIFO of pending events: #queue[#head..] are live; compacted when the dead prefix grows. */
  #queue: ServerEvent[] = [];
  #head = 0;
  #running: Promise<void> | null = null;
  #closed = false;
  #delivered = 0;
  #dropped = 0;
  #retries = 0;

  constructor(opts: WebhookDeliveryOptions) {
    this.#url = opts.url;
    this.#log = (opts.logger ?? silentLogger).child({ module: 'webhook' });
    this.#maxBatch = opts.maxBatch ?? 100;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#lingerMs = opts.lingerMs ?? 20;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#maxAttempts = opts.maxAttempts ?? 8;
    this.#baseDelayMs = opts.baseDelayMs ?? 500;
    this.#maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.#fetch = opts.fetch ?? fetch;
    this.#unsubscribe = opts.bus.subscribe((event) => this.#enqueue(event));
  }

  get stats(): WebhookDeliveryStats {
    return { delivered: this.#delivered, dropped: this.#dropped, retries: this.#retries, queued: this.#queue.length - this.#head };
  }

  /** Resolves when the queue is empty and nothing is in flight (or after close()). */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  /** Stops delivery now; undelivered events are discarded. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#abort.abort();
    this.#queue = [];
    this.#head = 0;
  }

  #enqueue(event: ServerEvent): void {
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= this.#maxQueue) {
      // keep the newest: a receiver catching up wants the current state; the gap shows in seq
      this.#head++;
      this.#dropped++;
    }
    this.#queue.push(event);
    this.#kick();
  }

  /** Starts the sender loop unless it runs; one loop at a time keeps batches in seq order. */
  #kick(): void {
    if (this.#running !== null || this.#closed) return;
    this.#running = this.#run().finally(() => {
      this.#running = null;
      // an event may have arrived between the loop's last look and now
      if (this.#queue.length > this.#head) this.#kick();
    });
  }

  #take(): ServerEvent[] {
    const end = Math.min(this.#queue.length, this.#head + this.#maxBatch);
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      // even with lingerMs 0 this yields once, so a synchronous burst of emits shares a batch
      await delay(this.#lingerMs, undefined, { signal });
      while (!this.#closed && this.#queue.length > this.#head) {
        await this.#deliver(this.#take(), signal);
      }
    } catch (err) {
      if (!signal.aborted) this.#log.error({ err }, 'webhook loop failed');
    }
  }

  async #deliver(batch: ServerEvent[], signal: AbortSignal): Promise<void> {
    const body = JSON.stringify(batch);
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      try {
        const res = await this.#fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        });
        status = res.status;
        await res.body?.cancel();
        if (res.ok) {
          this.#delivered += batch.length;
          return;
        }
      } catch (err) {
        if (signal.aborted) return;
        this.#log.debug({ err, attempt }, 'webhook request failed');
      }
      // 4xx other than 408/429 means the receiver refuses this content: retrying cannot help
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      if (permanent || attempt >= this.#maxAttempts) {
        this.#dropped += batch.length;
        this.#log.warn({ status, attempt, events: batch.length, first_seq: batch[0]?.seq }, 'webhook batch dropped');
        return;
      }
      this.#retries++;
      const backoff = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
      await delay(backoff * (0.8 + 0.4 * Math.random()), undefined, { signal });
    }
  }
}
