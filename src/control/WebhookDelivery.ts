import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../common/logger.ts';
import { moduleLogger, silentLogger } from '../common/logger.ts';
import type { EventSource } from './EventSource.ts';
import type { ServerEvent } from './types.ts';
import { WebhookSigner } from '../common/WebhookSigner.ts';

export interface WebhookDeliveryOptions {
  /** The local bus, or in a cluster the leader's gate on the cluster stream (src/cluster/). */
  bus: Pick<EventSource, 'subscribe'>;
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
  /** Signs every request (Standard Webhooks headers); unsigned without one. */
  signer?: WebhookSigner;
  /** Where the msc_webhook_* metrics are registered; a private Registry without one. */
  registry?: Registry;
  /** At most one "events dropped" warning per this interval (the count in between is summed). */
  dropLogIntervalMs?: number;
  /** Called with each batch the receiver accepted (a cluster stores its position). */
  onDelivered?: (batch: readonly ServerEvent[]) => void;
}

/** Why events were dropped (label `reason` of msc_webhook_events_dropped_total). */
export type WebhookDropReason = 'queue_full' | 'rejected' | 'attempts_exhausted' | 'shutdown';

export interface WebhookDeliveryStats {
  /** Events the receiver accepted (2xx). */
  delivered: number;
  /** Events dropped: queue overflow, a batch out of attempts or refused with a 4xx, or left at close(). */
  dropped: number;
  /** The same, by reason. */
  droppedBy: Record<WebhookDropReason, number>;
  /** Failed attempts that were retried. */
  retries: number;
  /** Events waiting now. */
  queued: number;
}

/**
 * Pushes every bus event to `config.webhookUrl` in batches. The bus listener only enqueues (it
 * runs inside emitters); one sender loop posts, retrying with exponential backoff, so batches
 * arrive in seq order. Memory is bounded by `maxQueue`; receivers see dropped events as gaps in
 * `seq`, operators see them in `msc_webhook_events_dropped_total{reason}` and in a warning logged
 * at most once per `dropLogIntervalMs`. `close()` stops at once: the request in flight and any
 * backoff wait are aborted.
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
  readonly #signer: WebhookSigner | null;
  readonly #dropLogIntervalMs: number;
  readonly #onDelivered: ((batch: readonly ServerEvent[]) => void) | null;
  readonly #abort = new AbortController();
  readonly #unsubscribe: () => void;
  /** The msc_webhook_* families (also the source of `stats`). */
  readonly registry: Registry;
  readonly #deliveredTotal: Counter;
  readonly #retriesTotal: Counter;
  readonly #droppedTotal: Counter<'reason'>;
  /** Pre-bound children: a drop in an overflow burst is a plain increment. */
  readonly #dropped: Record<WebhookDropReason, { inc(n?: number): void }>;
  readonly #droppedBy: Record<WebhookDropReason, number> = {
    queue_full: 0,
    rejected: 0,
    attempts_exhausted: 0,
    shutdown: 0,
  };
  /** FIFO of pending events: #queue[#head..] are live; compacted when the dead prefix grows. */
  #queue: ServerEvent[] = [];
  #head = 0;
  #running: Promise<void> | null = null;
  #closed = false;
  #delivered = 0;
  #retries = 0;
  /** Events of the batch being posted (or waiting to be retried). */
  #inFlight = 0;
  /** HTTP status of the last refused attempt, for the drop warning (0: network error or timeout). */
  #lastStatus = 0;
  /** Drops not yet reported in a log line, and the timer that reports them. */
  #unlogged: Record<WebhookDropReason, number> = { queue_full: 0, rejected: 0, attempts_exhausted: 0, shutdown: 0 };
  #dropLogTimer: NodeJS.Timeout | null = null;

  constructor(opts: WebhookDeliveryOptions) {
    this.#url = opts.url;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'webhook');
    this.#maxBatch = opts.maxBatch ?? 100;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#lingerMs = opts.lingerMs ?? 20;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#maxAttempts = opts.maxAttempts ?? 8;
    this.#baseDelayMs = opts.baseDelayMs ?? 500;
    this.#maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.#fetch = opts.fetch ?? fetch;
    this.#signer = opts.signer ?? null;
    this.#dropLogIntervalMs = opts.dropLogIntervalMs ?? 10_000;
    this.#onDelivered = opts.onDelivered ?? null;
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    const queue = (): number => this.#queue.length - this.#head;
    new Gauge({
      name: 'msc_webhook_events_queued',
      help: 'Events waiting for delivery to WEBHOOK_URL (in flight included).',
      registers,
      collect() {
        this.set(queue());
      },
    });
    this.#deliveredTotal = new Counter({
      name: 'msc_webhook_events_delivered_total',
      help: 'Events the webhook receiver accepted (2xx).',
      registers,
    });
    this.#retriesTotal = new Counter({
      name: 'msc_webhook_retries_total',
      help: 'Webhook requests that failed and were retried.',
      registers,
    });
    this.#droppedTotal = new Counter({
      name: 'msc_webhook_events_dropped_total',
      help: 'Events never delivered to the webhook, by reason: queue_full (receiver too slow), rejected (4xx), attempts_exhausted, shutdown.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.#dropped = {
      queue_full: this.#droppedTotal.labels('queue_full'),
      rejected: this.#droppedTotal.labels('rejected'),
      attempts_exhausted: this.#droppedTotal.labels('attempts_exhausted'),
      shutdown: this.#droppedTotal.labels('shutdown'),
    };
    for (const child of Object.values(this.#dropped)) child.inc(0); // every reason exported from the start
    this.#unsubscribe = opts.bus.subscribe((event) => this.#enqueue(event));
  }

  get stats(): WebhookDeliveryStats {
    const by = this.#droppedBy;
    return {
      delivered: this.#delivered,
      dropped: by.queue_full + by.rejected + by.attempts_exhausted + by.shutdown,
      droppedBy: { ...by },
      retries: this.#retries,
      queued: this.#queue.length - this.#head,
    };
  }

  /** Resolves when the queue is empty and nothing is in flight (or after close()). */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  /** Stops delivery now; undelivered events are discarded (counted as `shutdown`). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#abort.abort();
    const left = this.#queue.length - this.#head + this.#inFlight;
    this.#inFlight = 0;
    this.#queue = [];
    this.#head = 0;
    if (left > 0) this.#drop('shutdown', left);
    if (this.#dropLogTimer !== null) clearTimeout(this.#dropLogTimer);
    this.#dropLogTimer = null;
    this.#logDrops();
  }

  #enqueue(event: ServerEvent): void {
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= this.#maxQueue) {
      // keep the newest: a receiver catching up wants the current state; the gap shows in seq
      this.#head++;
      this.#drop('queue_full', 1);
    }
    this.#queue.push(event);
    this.#kick();
  }

  /**
   * Counts a drop. The first drop after a quiet interval is logged at once; later ones are summed
   * into one warning per interval, so an overflow of thousands of events is a line, not a flood.
   */
  #drop(reason: WebhookDropReason, n: number): void {
    this.#droppedBy[reason] += n;
    this.#dropped[reason].inc(n);
    this.#unlogged[reason] += n;
    if (this.#dropLogTimer !== null || this.#closed) return;
    this.#logDrops();
    this.#dropLogTimer = setTimeout(() => this.#onDropLogTimer(), this.#dropLogIntervalMs);
    this.#dropLogTimer.unref();
  }

  #onDropLogTimer(): void {
    this.#dropLogTimer = null;
    const u = this.#unlogged;
    if (u.queue_full + u.rejected + u.attempts_exhausted + u.shutdown === 0) return;
    this.#logDrops();
    // drops went on during the interval: keep summing for another one
    this.#dropLogTimer = setTimeout(() => this.#onDropLogTimer(), this.#dropLogIntervalMs);
    this.#dropLogTimer.unref();
  }

  #logDrops(): void {
    const u = this.#unlogged;
    const total = u.queue_full + u.rejected + u.attempts_exhausted + u.shutdown;
    if (total === 0) return;
    const by: Partial<Record<WebhookDropReason, number>> = {};
    for (const [reason, n] of Object.entries(u) as Array<[WebhookDropReason, number]>) if (n > 0) by[reason] = n;
    this.#log.warn(
      {
        dropped: total,
        by,
        dropped_total: this.stats.dropped,
        queued: this.#queue.length - this.#head,
        last_status: this.#lastStatus,
      },
      'webhook events dropped',
    );
    this.#unlogged = { queue_full: 0, rejected: 0, attempts_exhausted: 0, shutdown: 0 };
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
    // one message id per batch, the same on every retry, so receivers can deduplicate
    const msgId = this.#signer?.newMessageId() ?? '';
    this.#inFlight = batch.length;
    try {
      await this.#attempts(batch, body, msgId, signal);
    } finally {
      this.#inFlight = 0;
    }
  }

  /** Posts one batch until it is accepted, refused for good or out of attempts; close() aborts it. */
  async #attempts(batch: ServerEvent[], body: string, msgId: string, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        // signed per attempt: the timestamp is the attempt's, so a late retry is not refused as stale
        if (this.#signer !== null) Object.assign(headers, this.#signer.headers(msgId, body));
        const res = await this.#fetch(this.#url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        });
        status = res.status;
        await res.body?.cancel();
        if (res.ok) {
          this.#delivered += batch.length;
          this.#deliveredTotal.inc(batch.length);
          try {
            this.#onDelivered?.(batch);
          } catch {
            // a faulty hook must not stop delivery
          }
          return;
        }
      } catch (err) {
        // close() counted the batch in flight with the queue
        if (signal.aborted) return;
        this.#log.debug({ err, attempt }, 'webhook request failed');
      }
      // 4xx other than 408/429 means the receiver refuses this content: retrying cannot help
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      if (status !== 0) this.#lastStatus = status;
      if (permanent || attempt >= this.#maxAttempts) {
        this.#log.debug({ status, attempt, events: batch.length, first_seq: batch[0]?.seq }, 'webhook batch dropped');
        this.#inFlight = 0;
        this.#drop(permanent ? 'rejected' : 'attempts_exhausted', batch.length);
        return;
      }
      this.#retries++;
      this.#retriesTotal.inc();
      const backoff = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
      await delay(backoff * (0.8 + 0.4 * Math.random()), undefined, { signal });
    }
  }
}
