import type { Redis } from 'ioredis';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { ClusterKeys } from './ClusterKeys.ts';

/** Renews the lease only while we still hold it (compare-and-pexpire). */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
/** Gives the lease up only while we still hold it (close(): the next leader need not wait a TTL). */
const RESIGN_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface LeaderElectionOptions {
  redis: Redis;
  keys: ClusterKeys;
  instanceId: string;
  /** Lease length (CLUSTER_MEMBER_TTL_MS): a silent leader is replaced after at most this long. */
  ttlMs: number;
  /** How often the lease is renewed or sought (CLUSTER_HEARTBEAT_MS). */
  intervalMs: number;
  logger?: Logger;
}

/**
 * One leader per cluster through Redis: `SET leader <id> NX PX ttl`, renewed every interval while
 * held. When the leader stops renewing (killed, cut off from Redis), the key lapses and the next
 * member to try takes it. A leader that cannot reach Redis steps down by itself once its lease
 * would have lapsed, so two members never both act as leader for longer than a renewal interval.
 */
export class LeaderElection {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #id: string;
  readonly #ttlMs: number;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #listeners = new Set<(leader: boolean) => void>();
  #timer: NodeJS.Timeout | null = null;
  #leader = false;
  /** When the lease we hold was last set or renewed (Date.now()). */
  #renewedAt = 0;
  #closed = false;
  #busy = false;

  constructor(opts: LeaderElectionOptions) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#id = opts.instanceId;
    this.#ttlMs = opts.ttlMs;
    this.#intervalMs = opts.intervalMs;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'cluster-leader');
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Called with true when this instance becomes leader, false when it stops being one. */
  onChange(listener: (leader: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
    void this.tick();
  }

  /** One round: renew or seek the lease. Exposed for tests; the timer calls it. */
  async tick(): Promise<void> {
    if (this.#busy || this.#closed) return;
    this.#busy = true;
    try {
      if (this.#leader) {
        const renewed = Number(await this.#redis.eval(RENEW_LUA, 1, this.#keys.leader, this.#id, this.#ttlMs));
        if (renewed === 1) this.#renewedAt = Date.now();
        else this.#set(false, 'lease taken by another member');
      } else {
        const ok = await this.#redis.set(this.#keys.leader, this.#id, 'PX', this.#ttlMs, 'NX');
        if (ok === 'OK') {
          this.#renewedAt = Date.now();
          this.#set(true, 'lease acquired');
        }
      }
    } catch {
      // Redis away: keep acting as leader only while the lease we hold cannot have lapsed
      if (this.#leader && Date.now() - this.#renewedAt >= this.#ttlMs - this.#intervalMs) {
        this.#set(false, 'lease not renewed (Redis unavailable)');
      }
    } finally {
      this.#busy = false;
    }
  }

  /** Stops; resigns the lease when held, so another member takes over at once. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#leader) {
      this.#set(false, 'closing');
      await this.#redis.eval(RESIGN_LUA, 1, this.#keys.leader, this.#id).catch(() => {});
    }
    this.#listeners.clear();
  }

  #set(leader: boolean, why: string): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#log.info({ instance: this.#id, leader, why }, leader ? 'became cluster leader' : 'no longer cluster leader');
    for (const l of this.#listeners) {
      try {
        l(leader);
      } catch {
        // a faulty listener must not break the election
      }
    }
  }
}
