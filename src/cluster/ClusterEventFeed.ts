import type { Redis } from 'ioredis';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { EventListener, EventSource } from '../control/EventSource.ts';
import type { ServerEvent } from '../control/types.ts';
import type { ClusterKeys } from './ClusterKeys.ts';
import { EventRing } from './EventRing.ts';
import { decodeEntry } from './streamEntry.ts';
import { whenReady } from './whenReady.ts';

export interface ClusterEventFeedOptions {
  /** A connection of its own: XREAD BLOCK holds it (see connectRedis()). */
  redis: Redis;
  keys: ClusterKeys;
  /** Events kept for replay (EVENT_BUFFER_SIZE). */
  capacity: number;
  /** How long one XREAD blocks; close() does not wait for it (the connection is dropped). */
  blockMs?: number;
  logger?: Logger;
}

type XReadReply = Array<[string, Array<[string, string[]]>]> | null;

/**
 * The whole cluster's events, read from the Redis Stream in its order: what /events, gRPC Events
 * and the webhook deliver in a cluster, in place of the local bus (same EventSource contract,
 * `seq` being the cluster seq). One blocking reader per instance fans out to every local client.
 * At start it loads the last `capacity` entries, so any instance replays `?since=` alike. When
 * Redis goes away it retries and resumes after the last entry it delivered: nothing is read
 * twice, and what the writers queued meanwhile arrives when they append it.
 */
export class ClusterEventFeed implements EventSource {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #blockMs: number;
  readonly #log: Logger;
  readonly #ring: EventRing;
  readonly #capacity: number;
  readonly #listeners = new Set<EventListener>();
  readonly #abort = new AbortController();
  /** The last entry id read (XREAD resumes after it). */
  #lastId = '0-0';
  #loop: Promise<void> | null = null;
  #closed = false;
  #read = 0;

  constructor(opts: ClusterEventFeedOptions) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#blockMs = opts.blockMs ?? 2000;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'cluster-events');
    this.#capacity = opts.capacity;
    this.#ring = new EventRing(opts.capacity);
  }

  get lastSeq(): number {
    return this.#ring.lastSeq;
  }

  get oldestSeq(): number {
    return this.#ring.oldestSeq;
  }

  /** Entries read from the stream since start (the preload included). */
  get entriesRead(): number {
    return this.#read;
  }

  since(since: number): ServerEvent[] {
    return this.#ring.since(since);
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /**
   * Loads the stream's recent entries into the replay buffer (no listener sees them), then
   * follows it. Resolves once loaded, or at once when Redis is away (it loads when it returns).
   */
  async start(): Promise<void> {
    if (this.#loop !== null) return;
    const loaded = await this.#preload().catch(() => false);
    this.#loop = this.#follow(loaded);
  }

  /** Stops reading and drops the reader's connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#listeners.clear();
    this.#redis.disconnect();
  }

  async #preload(): Promise<boolean> {
    const entries = (await this.#redis.xrevrange(this.#keys.events, '+', '-', 'COUNT', this.#capacity)) as Array<
      [string, string[]]
    >;
    for (let i = entries.length - 1; i >= 0; i--) {
      const [id, fields] = entries[i] as [string, string[]];
      this.#take(id, fields, false);
    }
    return true;
  }

  async #follow(loaded: boolean): Promise<void> {
    const signal = this.#abort.signal;
    let down = false;
    while (!this.#closed) {
      try {
        if (!loaded) loaded = await this.#preload();
        const reply = (await this.#redis.xread(
          'COUNT',
          1000,
          'BLOCK',
          this.#blockMs,
          'STREAMS',
          this.#keys.events,
          this.#lastId,
        )) as XReadReply;
        if (down) {
          down = false;
          this.#log.info({ last_seq: this.lastSeq }, 'cluster event stream reader resumed');
        }
        const entries = reply?.[0]?.[1] ?? [];
        for (const [id, fields] of entries) this.#take(id, fields, true);
      } catch (err) {
        if (this.#closed) return;
        if (!down) {
          down = true;
          this.#log.warn({ err, last_seq: this.lastSeq }, 'cluster event stream unreadable; retrying');
        }
        await whenReady(this.#redis, 500, signal);
      }
    }
  }

  #take(id: string, fields: string[], notify: boolean): void {
    this.#lastId = id;
    this.#read++;
    const event = decodeEntry(id, fields);
    if (event === null || !this.#ring.push(event) || !notify) return;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // a faulty listener must not stop the feed or the other listeners
      }
    }
  }
}
