import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { ClusterConfig } from '../config/config.ts';
import type { EventSource } from '../control/EventSource.ts';
import type { ServerEvent } from '../control/types.ts';
import { ClusterEventFeed } from './ClusterEventFeed.ts';
import { ClusterKeys } from './ClusterKeys.ts';
import { connectRedis } from './connectRedis.ts';
import { EventStreamWriter } from './EventStreamWriter.ts';
import { Failover, type FailoverPublish } from './Failover.ts';
import { LeaderElection } from './LeaderElection.ts';
import { LeaderWebhookGate } from './LeaderWebhookGate.ts';

export interface ClusterEventsOptions {
  cluster: ClusterConfig;
  /** EVENT_BUFFER_SIZE: the replay depth of the cluster stream, its trim length and the outage queue's bound. */
  eventBufferSize: number;
  /** The local bus, copied to the stream. */
  bus: EventSource;
  logger?: Logger;
}

/**
 * An instance's part in the cluster's one event stream and its failover, started by main.ts when
 * REDIS_URL is set: the writer (local bus → Redis Stream), the feed (Redis Stream → /events, gRPC
 * Events), the leader election, the leader's failover sweep and the leader-only webhook source.
 * Two Redis connections: the feed's blocking reader, and one for the rest.
 */
export class ClusterEvents {
  readonly keys: ClusterKeys;
  readonly feed: ClusterEventFeed;
  readonly writer: EventStreamWriter;
  readonly election: LeaderElection;
  readonly failover: Failover;
  readonly webhookSource: LeaderWebhookGate;
  /** msc_cluster_events_* metrics, for /metrics. */
  readonly registry = new Registry();
  readonly #redis: Redis;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #sweeper: NodeJS.Timeout | null = null;
  #sweeping = false;
  #closed = false;

  private constructor(opts: ClusterEventsOptions) {
    const c = opts.cluster;
    const logger = opts.logger ?? silentLogger;
    this.#log = moduleLogger(logger, 'cluster-events');
    this.#intervalMs = c.heartbeatMs;
    this.keys = new ClusterKeys(c.name);
    this.#redis = connectRedis(c, `msc-events-${c.instanceId}`);
    this.feed = new ClusterEventFeed({
      redis: connectRedis(c, `msc-events-reader-${c.instanceId}`),
      keys: this.keys,
      capacity: opts.eventBufferSize,
      logger,
    });
    this.writer = new EventStreamWriter({
      redis: this.#redis,
      keys: this.keys,
      instanceId: c.instanceId,
      maxLen: opts.eventBufferSize,
      maxQueue: opts.eventBufferSize,
      knownSeq: () => this.feed.lastSeq,
      logger,
      registry: this.registry,
    });
    this.election = new LeaderElection({
      redis: this.#redis,
      keys: this.keys,
      instanceId: c.instanceId,
      ttlMs: c.memberTtlMs,
      intervalMs: c.heartbeatMs,
      logger,
    });
    const publish: FailoverPublish = (instance, type, payload) => {
      const event: ServerEvent = { ...payload, seq: 0, type, time: new Date().toISOString() };
      this.writer.append(instance, event);
    };
    this.failover = new Failover({
      redis: this.#redis,
      keys: this.keys,
      instanceId: c.instanceId,
      memberTtlMs: c.memberTtlMs,
      publish,
      flowSessions: () => {
        const flows = new Map<string, string>();
        const ended = new Set<string>();
        for (const e of this.feed.since(0)) {
          if (typeof e.session_id !== 'string') continue;
          if (e.type === 'flow.started' && typeof e.flow === 'string') flows.set(e.session_id, e.flow);
          else if (e.type === 'flow.completed' || e.type === 'flow.failed') ended.add(e.session_id);
        }
        return { flows, ended };
      },
      logger,
    });
    this.webhookSource = new LeaderWebhookGate({
      feed: this.feed,
      redis: this.#redis,
      keys: this.keys,
      election: this.election,
      logger,
    });
    this.writer.attach(opts.bus);
    this.election.onChange((leader) => (leader ? this.#startSweeping() : this.#stopSweeping()));
  }

  /** Connects, loads the stream's recent events and starts following it; never fails on an outage. */
  static async start(opts: ClusterEventsOptions): Promise<ClusterEvents> {
    const events = new ClusterEvents(opts);
    await events.feed.start();
    events.election.start();
    return events;
  }

  /**
   * Waits (at most `ms`) until what the local bus emitted is in the stream and back through the
   * feed: at shutdown, the last events reach this instance's own /events clients.
   */
  async flush(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    await Promise.race([this.writer.idle(), new Promise((r) => setTimeout(r, ms).unref())]);
    const target = this.writer.lastSeq;
    while (this.feed.lastSeq < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  /** Stops everything and closes both connections; events not yet appended are lost (counted). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSweeping();
    this.webhookSource.close();
    await this.election.close();
    this.writer.close();
    this.feed.close();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #startSweeping(): void {
    if (this.#sweeper !== null || this.#closed) return;
    this.#sweeper = setInterval(() => void this.#sweep(), this.#intervalMs);
    this.#sweeper.unref();
    void this.#sweep();
  }

  #stopSweeping(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping || !this.election.isLeader) return;
    this.#sweeping = true;
    try {
      await this.failover.sweep();
    } catch (err) {
      this.#log.debug({ err }, 'failover sweep failed (Redis away?); retrying next round');
    } finally {
      this.#sweeping = false;
    }
  }
}
