import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ReplyError, type Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { EventSource } from '../control/EventSource.ts';
import type { ServerEvent } from '../control/types.ts';
import type { ClusterKeys } from './ClusterKeys.ts';
import { whenReady } from './whenReady.ts';

/**
 * Appends one event to the stream, atomically: skips it when this boot of the instance already
 * appended entry n (a retry after a reply lost to a disconnect), takes the next cluster seq and
 * writes the entry `<seq>-0`, trimmed to about MAXLEN entries.
 *
 * The counter is raised to the floor the caller knows (the highest cluster seq its reader saw),
 * plus a margin when the key is missing: after a Redis restart without persistence the counter
 * restarts empty, and seqs must never go back (readers resume after the last id they saw).
 *
 * KEYS: events stream, seq counter, this instance's last appended entry.
 * ARGV: instance, event JSON, boot id, n, maxlen, floor.
 */
const APPEND_LUA = `
local last = redis.call('GET', KEYS[3])
local n = tonumber(ARGV[4])
if last then
  local sep = string.find(last, ':', 1, true)
  if string.sub(last, 1, sep - 1) == ARGV[3] and tonumber(string.sub(last, sep + 1)) >= n then return 0 end
end
local cur = redis.call('GET', KEYS[2])
local floor = tonumber(ARGV[6])
if not cur then
  if floor > 0 then floor = floor + 1000 end
  redis.call('SET', KEYS[2], floor)
elseif tonumber(cur) < floor then
  redis.call('SET', KEYS[2], floor)
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'instance', ARGV[1], 'event', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3] .. ':' .. ARGV[4])
return seq
`;

type AppendingRedis = Redis & {
  mscAppendEvent(...args: (string | number)[]): Promise<number>;
};

export interface EventStreamWriterOptions {
  /** A shared (non-blocking) connection; see connectRedis(). */
  redis: Redis;
  keys: ClusterKeys;
  instanceId: string;
  /** The stream is trimmed to about this many entries (MAXLEN ~). */
  maxLen: number;
  /** Events waiting while Redis is away, at most; beyond it the oldest are dropped and counted. */
  maxQueue: number;
  /** The highest cluster seq this instance has seen (its reader's lastSeq): the counter's floor. */
  knownSeq: () => number;
  /** Entries per pipelined round trip. */
  maxBatch?: number;
  logger?: Logger;
  /** Where the msc_cluster_events_* metrics go. */
  registry?: Registry;
}

export interface EventStreamWriterStats {
  /** Entries written to the stream. */
  appended: number;
  /** Events dropped: the queue was full during a Redis outage, or Redis refused the entry. */
  dropped: number;
  droppedBy: { queue_full: number; rejected: number };
  /** Events waiting now (an outage, or a burst in flight). */
  queued: number;
}

interface Pending {
  instance: string;
  json: string;
  /** Per-boot append number (the dedup key's n). */
  n: number;
}

/**
 * Copies every event of the local bus to the cluster's Redis Stream, in the bus's order. The bus
 * listener only enqueues; one loop appends in pipelined batches. While Redis is away, events wait
 * in a bounded queue (the oldest dropped and counted past `maxQueue`) and are appended in order
 * when it returns: the local bus, and so every local consumer, never waits for Redis. `close()`
 * stops at once.
 */
export class EventStreamWriter {
  readonly #redis: AppendingRedis;
  readonly #keys: ClusterKeys;
  readonly #instanceId: string;
  readonly #maxLen: number;
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #knownSeq: () => number;
  readonly #log: Logger;
  readonly #boot = randomBytes(4).toString('hex');
  readonly #abort = new AbortController();
  readonly #appendedTotal: Counter | null = null;
  readonly #droppedTotal: Counter<'reason'> | null = null;
  #queue: Pending[] = [];
  #head = 0;
  #n = 0;
  #lastSeq = 0;
  #running: Promise<void> | null = null;
  #closed = false;
  #appended = 0;
  readonly #droppedBy = { queue_full: 0, rejected: 0 };
  #unsubscribe: (() => void) | null = null;
  #outageLogged = false;

  constructor(opts: EventStreamWriterOptions) {
    this.#redis = opts.redis as AppendingRedis;
    this.#redis.defineCommand('mscAppendEvent', { numberOfKeys: 3, lua: APPEND_LUA });
    this.#keys = opts.keys;
    this.#instanceId = opts.instanceId;
    this.#maxLen = opts.maxLen;
    this.#maxQueue = opts.maxQueue;
    this.#maxBatch = opts.maxBatch ?? 256;
    this.#knownSeq = opts.knownSeq;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'cluster-events');
    if (opts.registry) {
      const registers = [opts.registry];
      const queued = (): number => this.#queue.length - this.#head;
      new Gauge({
        name: 'msc_cluster_events_queued',
        help: 'Local events waiting to be appended to the cluster event stream (Redis away, or in flight).',
        registers,
        collect() {
          this.set(queued());
        },
      });
      this.#appendedTotal = new Counter({
        name: 'msc_cluster_events_appended_total',
        help: 'Events this instance appended to the cluster event stream.',
        registers,
      });
      this.#droppedTotal = new Counter({
        name: 'msc_cluster_events_dropped_total',
        help: 'Local events never appended to the cluster stream, by reason: queue_full (Redis away too long), rejected (Redis refused the entry).',
        labelNames: ['reason'] as const,
        registers,
      });
      this.#droppedTotal.labels('queue_full').inc(0);
      this.#droppedTotal.labels('rejected').inc(0);
    }
  }

  /** The cluster seq of the last entry this writer appended (0 before the first). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get stats(): EventStreamWriterStats {
    const by = this.#droppedBy;
    return {
      appended: this.#appended,
      dropped: by.queue_full + by.rejected,
      droppedBy: { ...by },
      queued: this.#queue.length - this.#head,
    };
  }

  /** Appends every event `bus` emits from now on, as this instance's. */
  attach(bus: EventSource): void {
    this.#unsubscribe?.();
    this.#unsubscribe = bus.subscribe((event) => this.append(this.#instanceId, event));
  }

  /** Queues one event for the stream; `instance` is who it is about (failover speaks for the lost). */
  append(instance: string, event: ServerEvent): void {
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= this.#maxQueue) {
      // keep the newest, as webhooks do; the drop is counted and logged once per outage
      this.#head++;
      this.#drop('queue_full', 1);
    }
    this.#queue.push({ instance, json: JSON.stringify(event), n: ++this.#n });
    this.#kick();
  }

  /** Resolves when nothing waits (or after close()); it waits through an outage. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  /** Stops appending now; what still waits is discarded. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#abort.abort();
    this.#queue = [];
    this.#head = 0;
  }

  #drop(reason: 'queue_full' | 'rejected', n: number): void {
    this.#droppedBy[reason] += n;
    this.#droppedTotal?.labels(reason).inc(n);
  }

  #kick(): void {
    if (this.#running !== null || this.#closed) return;
    this.#running = this.#run().finally(() => {
      this.#running = null;
      if (this.#queue.length > this.#head) this.#kick();
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      // a synchronous burst of emits shares a round trip
      await delay(0, undefined, { signal });
      while (!this.#closed && this.#queue.length > this.#head) {
        if (this.#redis.status !== 'ready') {
          await this.#waitForRedis(signal);
          continue;
        }
        await this.#appendBatch();
      }
    } catch (err) {
      if (!signal.aborted) this.#log.error({ err }, 'cluster event writer failed');
    }
  }

  async #waitForRedis(signal: AbortSignal): Promise<void> {
    if (!this.#outageLogged) {
      this.#outageLogged = true;
      this.#log.warn({ queued: this.stats.queued }, 'Redis unavailable: events wait locally for the cluster stream');
    }
    // 'ready' normally; the timer covers a connection that ended for good (the queue stays bounded)
    await whenReady(this.#redis, 1000, signal);
  }

  async #appendBatch(): Promise<void> {
    const end = Math.min(this.#queue.length, this.#head + this.#maxBatch);
    const batch = this.#queue.slice(this.#head, end);
    const k = this.#keys;
    const pipeline = this.#redis.pipeline() as unknown as {
      mscAppendEvent(...args: (string | number)[]): unknown;
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    const floor = Math.max(this.#knownSeq(), this.#lastSeq);
    for (const p of batch) {
      pipeline.mscAppendEvent(
        k.events,
        k.eventSeq,
        k.eventsAppended(this.#instanceId),
        p.instance,
        p.json,
        this.#boot,
        p.n,
        this.#maxLen,
        floor,
      );
    }
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch {
      results = null;
    }
    // the queue may have been trimmed (overflow) while the batch was in flight: settle by n
    let done = 0;
    for (let i = 0; i < batch.length; i++) {
      const r = results?.[i];
      const err = r === undefined ? new Error('no reply') : r[0];
      if (err !== null) {
        if (err instanceof ReplyError) {
          // Redis refused this entry (out of memory, a script error): a retry would fail alike
          this.#log.warn({ err }, 'cluster event stream refused an event');
          this.#drop('rejected', 1);
          done = i + 1;
          continue;
        }
        break; // the connection went away: this entry and the ones after it are retried (deduplicated)
      }
      const seq = Number(r?.[1]);
      if (seq > 0) {
        this.#lastSeq = seq;
        this.#appended++;
        this.#appendedTotal?.inc();
      }
      done = i + 1;
    }
    if (done > 0 && this.#outageLogged) {
      this.#outageLogged = false;
      this.#log.info(
        { queued: this.stats.queued, dropped: this.stats.droppedBy.queue_full },
        'cluster event stream back',
      );
    }
    const lastDone = batch[done - 1];
    if (lastDone !== undefined) {
      while (this.#head < this.#queue.length && (this.#queue[this.#head] as Pending).n <= lastDone.n) this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (done < batch.length && this.#redis.status === 'ready') {
      // a failure with the connection still up (it is reconnecting): give it a moment
      await delay(100, undefined, { signal: this.#abort.signal });
    }
  }
}
