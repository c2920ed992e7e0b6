import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.ts';
import type { ClusterKeys, ResourceKind } from './ClusterKeys.ts';

/** One resource this instance owns, as `owner:<id>` records it. */
export interface OwnedResource {
  /** A ResourceKind, or the kind of a resource another part adds (singular, e.g. `stream`). */
  kind: ResourceKind | (string & {});
  /** Endpoints: the affinity key they were created with. */
  affinity?: string;
  /** Resources attached to an endpoint (playbacks, flows, DTMF sends): that endpoint. */
  endpointId?: string;
}

/**
 * Kinds whose finished state the owner still serves (a flow session's outcome, a recording's
 * result and file): they stay owned after they end, the most recent this many of each (the flow
 * service keeps its last 1000 finished sessions), so any instance still finds them.
 */
const RETAINED: Record<string, number> = { flow: 1000, recording: 10_000 };

/**
 * Deletes `affinity:<key>` only while it still names this instance (another may have claimed it
 * since), and drops the key from this instance's set. KEYS: affinity key, affinities set;
 * ARGV: instance id, key.
 */
const RELEASE_AFFINITY = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1`;

/**
 * The ownership records of what this instance owns: `owner:<id>` and `instance:<id>:owned`
 * written when a resource is created here and deleted with it, and the affinity keys its
 * endpoints hold (`affinity:<key>`, released when the last local endpoint with that key ends).
 * The local map is the truth: it answers "is this mine?" without Redis (local resources keep
 * working through an outage), and `resync()` re-writes Redis from it when Redis returns.
 * A write that fails (Redis away) never fails the resource: resync catches up.
 */
export class Ownership {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #id: string;
  readonly #log: Logger;
  readonly #owned = new Map<string, OwnedResource>();
  readonly #pending = new Map<string, Promise<void>>();
  /** affinity key → local endpoints holding it. */
  readonly #affinityUse = new Map<string, number>();
  /** Per retained kind, the ids that ended, oldest first. */
  readonly #ended = new Map<string, Set<string>>();
  #closed = false;

  constructor(options: { redis: Redis; keys: ClusterKeys; instanceId: string; logger: Logger }) {
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#id = options.instanceId;
    this.#log = options.logger;
  }

  /** Whether this instance owns `id` (no Redis involved). */
  has(id: string): boolean {
    return this.#owned.has(id);
  }

  get size(): number {
    return this.#owned.size;
  }

  /** Whether a local endpoint holds this affinity key. */
  holdsAffinity(key: string): boolean {
    return (this.#affinityUse.get(key) ?? 0) > 0;
  }

  /** Records that this instance owns `id`; idempotent. Resolves once written (or failed: resync catches up). */
  claim(id: string, resource: OwnedResource): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const known = this.#owned.get(id);
    if (known !== undefined) return this.settled(id);
    this.#owned.set(id, resource);
    if (resource.affinity !== undefined)
      this.#affinityUse.set(resource.affinity, (this.#affinityUse.get(resource.affinity) ?? 0) + 1);
    const write = this.#write(id, resource).finally(() => {
      if (this.#pending.get(id) === write) this.#pending.delete(id);
    });
    this.#pending.set(id, write);
    return write;
  }

  /** Resolves when the record of `id` is written (at once when nothing is pending). Never rejects. */
  settled(id: string): Promise<void> {
    return this.#pending.get(id) ?? Promise.resolve();
  }

  /** The resource ended: released, unless its kind is served after its end (RETAINED). */
  end(id: string): void {
    const resource = this.#owned.get(id);
    if (resource === undefined) return;
    const keep = RETAINED[resource.kind];
    if (keep === undefined) {
      this.release(id);
      return;
    }
    let ended = this.#ended.get(resource.kind);
    if (ended === undefined) this.#ended.set(resource.kind, (ended = new Set()));
    ended.add(id);
    for (const old of ended) {
      if (ended.size <= keep) break;
      ended.delete(old);
      this.release(old);
    }
  }

  /** The record goes now, and the affinity key when no local endpoint holds it any more. */
  release(id: string): void {
    const resource = this.#owned.get(id);
    if (resource === undefined) return;
    this.#owned.delete(id);
    let freedKey: string | null = null;
    if (resource.affinity !== undefined) {
      const left = (this.#affinityUse.get(resource.affinity) ?? 1) - 1;
      if (left > 0) this.#affinityUse.set(resource.affinity, left);
      else {
        this.#affinityUse.delete(resource.affinity);
        freedKey = resource.affinity;
      }
    }
    if (this.#redis.status !== 'ready') return; // resync drops the stale record
    const k = this.#keys;
    const after = this.settled(id);
    void after
      .then(async () => {
        await this.#redis.multi().del(k.owner(id)).srem(k.owned(this.#id), id).exec();
        if (freedKey !== null) await this.releaseAffinityIfUnused(freedKey);
      })
      .catch((err: unknown) => this.#log.debug({ err, id }, 'ownership record not removed; resync will'));
  }

  /** Gives up an affinity key no local endpoint holds (a placement whose create failed). */
  async releaseAffinityIfUnused(key: string): Promise<void> {
    if (this.holdsAffinity(key) || this.#redis.status !== 'ready') return;
    const k = this.#keys;
    await this.#redis.eval(RELEASE_AFFINITY, 2, k.affinity(key), k.affinities(this.#id), this.#id, key);
  }

  async #write(id: string, r: OwnedResource): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    try {
      await this.#writeMulti([[id, r]]);
    } catch (err) {
      this.#log.debug({ err, id }, 'ownership record not written; resync will');
    }
  }

  async #writeMulti(entries: Array<[string, OwnedResource]>): Promise<void> {
    const k = this.#keys;
    const m = this.#redis.multi();
    for (const [id, r] of entries) {
      const fields: Record<string, string> = { instance: this.#id, kind: r.kind };
      if (r.affinity !== undefined) fields.affinity = r.affinity;
      if (r.endpointId !== undefined) fields.endpoint_id = r.endpointId;
      m.hset(k.owner(id), fields).sadd(k.owned(this.#id), id);
      if (r.affinity !== undefined) {
        // the placing instance claimed it for us; after a Redis restart nobody has
        m.set(k.affinity(r.affinity), this.#id, 'NX').sadd(k.affinities(this.#id), r.affinity);
      }
    }
    await m.exec();
  }

  /**
   * Re-writes Redis from the local map (Redis returned, possibly empty): every owned record and
   * affinity key again, and the records of what ended while Redis was away removed.
   */
  async resync(): Promise<void> {
    if (this.#closed || this.#redis.status !== 'ready') return;
    const k = this.#keys;
    const entries = [...this.#owned];
    for (let i = 0; i < entries.length; i += 500) await this.#writeMulti(entries.slice(i, i + 500));
    const recorded = await this.#redis.smembers(k.owned(this.#id));
    const stale = recorded.filter((id) => !this.#owned.has(id));
    if (stale.length > 0) {
      const m = this.#redis.multi();
      for (const id of stale) m.del(k.owner(id)).srem(k.owned(this.#id), id);
      await m.exec();
    }
    const keys = await this.#redis.smembers(k.affinities(this.#id));
    for (const key of keys) if (!this.holdsAffinity(key)) await this.releaseAffinityIfUnused(key);
    this.#log.info({ owned: entries.length, stale: stale.length }, 'cluster ownership records re-written');
  }

  /** Removes every record of this instance (it leaves the cluster). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#pending.values());
    if (this.#redis.status !== 'ready') return;
    const k = this.#keys;
    try {
      const ids = await this.#redis.smembers(k.owned(this.#id));
      const keys = await this.#redis.smembers(k.affinities(this.#id));
      const m = this.#redis.multi();
      for (const id of ids) m.del(k.owner(id));
      m.del(k.owned(this.#id));
      await m.exec();
      for (const key of keys) {
        await this.#redis.eval(RELEASE_AFFINITY, 2, k.affinity(key), k.affinities(this.#id), this.#id, key);
      }
    } catch (err) {
      this.#log.warn({ err }, 'ownership records not removed on leaving');
    }
  }
}
