import type { Redis } from 'ioredis';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { EventListener, EventSource } from '../control/EventSource.ts';
import type { ServerEvent } from '../control/types.ts';
import type { ClusterKeys } from './ClusterKeys.ts';
import type { LeaderElection } from './LeaderElection.ts';

/** Moves the stored position forward only (a late batch of a former leader never moves it back). */
const ADVANCE_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
`;

export interface LeaderWebhookGateOptions {
  feed: EventSource;
  redis: Redis;
  keys: ClusterKeys;
  election: LeaderElection;
  logger?: Logger;
}

/**
 * The webhook's event source in a cluster: the cluster stream, passed on only while this instance
 * is the leader, so that N members sharing one WEBHOOK_URL post each event once, in the stream's
 * order. The receiver's position (the last seq it accepted) is kept in Redis (`webhook:position`);
 * a new leader resumes after it, so events the old leader had not delivered are not lost. Around a
 * change of leader a batch may be posted twice (the old leader's last one, in flight): receivers
 * deduplicate on `seq` (and the signed message id).
 */
export class LeaderWebhookGate implements Pick<EventSource, 'subscribe'> {
  readonly #feed: EventSource;
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #log: Logger;
  readonly #listeners = new Set<EventListener>();
  readonly #unsubscribe: Array<() => void> = [];
  #active = false;
  /** The last seq passed on; live events at or below it were part of the resume replay. */
  #forwarded = 0;
  /** Bumped on every change of leadership, so a late resume of a former term does nothing. */
  #term = 0;

  constructor(opts: LeaderWebhookGateOptions) {
    this.#feed = opts.feed;
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'cluster-webhook');
    this.#unsubscribe.push(opts.feed.subscribe((e) => this.#onEvent(e)));
    this.#unsubscribe.push(opts.election.onChange((leader) => this.#onLeader(leader)));
    if (opts.election.isLeader) this.#onLeader(true);
  }

  /** True while this instance delivers the cluster's webhooks. */
  get active(): boolean {
    return this.#active;
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** WebhookDelivery's onDelivered: records the receiver's position. */
  delivered(batch: readonly ServerEvent[]): void {
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    this.#redis.eval(ADVANCE_LUA, 1, this.#keys.webhookPosition, last.seq).catch((err: unknown) => {
      this.#log.debug({ err }, 'webhook position not stored');
    });
  }

  close(): void {
    this.#active = false;
    this.#term++;
    for (const u of this.#unsubscribe) u();
    this.#listeners.clear();
  }

  #onLeader(leader: boolean): void {
    const term = ++this.#term;
    this.#active = false;
    if (!leader) return;
    this.#redis.get(this.#keys.webhookPosition).then(
      (stored) => this.#resume(term, stored === null ? null : Number(stored)),
      // Redis away: start from what the feed has now; the next term resumes properly
      () => this.#resume(term, null),
    );
  }

  #resume(term: number, position: number | null): void {
    if (term !== this.#term) return;
    // no stored position: the cluster's first leader delivers from now on, not the stream's history
    const from = position ?? this.#feed.lastSeq;
    const replay = this.#feed.since(from);
    this.#log.info({ from, replay: replay.length }, 'delivering the cluster webhooks');
    this.#active = true;
    this.#forwarded = from;
    for (const e of replay) this.#pass(e);
    this.#forwarded = Math.max(this.#forwarded, this.#feed.lastSeq);
  }

  #onEvent(event: ServerEvent): void {
    if (!this.#active || event.seq <= this.#forwarded) return;
    this.#forwarded = event.seq;
    this.#pass(event);
  }

  #pass(event: ServerEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // WebhookDelivery only enqueues
      }
    }
  }
}
