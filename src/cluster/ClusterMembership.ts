import type { Redis } from 'ioredis';
import type { ClusterKeys, MemberRecord } from './ClusterKeys.ts';

/** What the member record says that changes: read at every heartbeat. */
export type MemberState = Pick<MemberRecord, 'media_address' | 'free_ports' | 'endpoints' | 'load' | 'state'>;

export interface ClusterMembershipOptions {
  redis: Redis;
  keys: ClusterKeys;
  id: string;
  /** Where the others reach this instance; known once its listeners are bound. */
  urls: () => { apiUrl: string; grpcUrl: string | null };
  heartbeatMs: number;
  memberTtlMs: number;
  state: () => MemberState;
  /** Called when the member record had vanished (TTL ran out during an outage, Redis restarted empty). */
  onRecordLost?: () => void;
}

/**
 * This instance's entry in the cluster: `member:<id>` (JSON, PX = member TTL) and its score in
 * the `members` ZSET, refreshed every heartbeat and at once when something placement cares about
 * changes (`touch()`), so a burst of placements sees each new endpoint. The refresh uses SET XX:
 * a missing record means Redis lost it (restart, TTL ran out while unreachable), and the owner
 * then re-writes everything it owns (`onRecordLost`).
 */
export class ClusterMembership {
  readonly #o: ClusterMembershipOptions;
  readonly #startedAt = new Date().toISOString();
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> | null = null;
  #again = false;
  #left = false;

  constructor(options: ClusterMembershipOptions) {
    this.#o = options;
  }

  /** The record as this instance would publish it now. */
  record(): MemberRecord {
    const o = this.#o;
    const urls = o.urls();
    return {
      id: o.id,
      api_url: urls.apiUrl,
      grpc_url: urls.grpcUrl,
      ...o.state(),
      started_at: this.#startedAt,
      heartbeat_at: new Date().toISOString(),
    };
  }

  /** Starts heartbeating; the first write is immediate. */
  start(): void {
    if (this.#timer !== null || this.#left) return;
    this.#timer = setInterval(() => this.touch(), this.#o.heartbeatMs);
    this.#timer.unref();
    void this.touch();
  }

  /** Writes the record now (coalesced: one write in flight, one more queued at most). */
  touch(): Promise<void> {
    if (this.#left || this.#timer === null) return Promise.resolve();
    if (this.#writing !== null) {
      this.#again = true;
      return this.#writing;
    }
    this.#writing = this.#write().finally(() => {
      this.#writing = null;
      if (this.#again) {
        this.#again = false;
        void this.touch();
      }
    });
    return this.#writing;
  }

  async #write(): Promise<void> {
    const { redis, keys, id, memberTtlMs } = this.#o;
    if (redis.status !== 'ready') return;
    const json = JSON.stringify(this.record());
    try {
      const kept = await redis.set(keys.member(id), json, 'PX', memberTtlMs, 'XX');
      if (kept === null) {
        await redis.multi().set(keys.member(id), json, 'PX', memberTtlMs).zadd(keys.members, Date.now(), id).exec();
        this.#o.onRecordLost?.();
      } else {
        await redis.zadd(keys.members, Date.now(), id);
      }
    } catch {
      // Redis went away mid-write: the next heartbeat after it returns writes again.
    }
  }

  /** Removes this member from the cluster (drain done, shutdown); heartbeats stop. Idempotent. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#writing?.catch(() => {});
    const { redis, keys, id } = this.#o;
    if (redis.status !== 'ready') return;
    await redis
      .multi()
      .del(keys.member(id))
      .zrem(keys.members, id)
      .exec()
      .catch(() => {});
  }

  get left(): boolean {
    return this.#left;
  }
}

/**
 * The live members as Redis sees them: the ids in `members` whose `member:<id>` key still
 * exists (an expired key is a member that stopped heartbeating). The ZSET entries of lost members
 * are left to failover, which walks them to report those members lost.
 */
export async function liveMembers(redis: Redis, keys: ClusterKeys): Promise<MemberRecord[]> {
  const ids = await redis.zrange(keys.members, 0, -1);
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => keys.member(id)));
  const out: MemberRecord[] = [];
  for (const v of values) {
    if (v === null) continue;
    try {
      out.push(JSON.parse(v) as MemberRecord);
    } catch {
      // a record this version cannot read is not a member it can place on
    }
  }
  return out;
}
