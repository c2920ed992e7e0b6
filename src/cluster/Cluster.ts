import type { Redis } from 'ioredis';
import { CapacityError, ClusterUnavailableError } from '../common/errors.ts';
import { moduleLogger, type Logger } from '../common/logger.ts';
import type { ClusterConfig } from '../config/config.ts';
import type { ServerEvent } from '../control/types.ts';
import { ClusterKeys, type MemberRecord } from './ClusterKeys.ts';
import { ClusterMembership, liveMembers } from './ClusterMembership.ts';
import { connectRedis } from './connectRedis.ts';
import { leastLoaded } from './leastLoaded.ts';
import { Ownership, type OwnedResource } from './Ownership.ts';
import { trackOwnership } from './trackOwnership.ts';

/** What the cluster needs of the control plane (MediaServer). */
export interface ClusterHost {
  readonly events: { subscribe(listener: (e: ServerEvent) => void): () => void };
  endpointAffinity(id: string): string | null;
  capacity(): { endpoints: number; portPairsFree: number; portPairs: number };
  drainStatus(): { draining: boolean; endpoints: number };
}

export interface ClusterOptions {
  config: ClusterConfig;
  host: ClusterHost;
  logger: Logger;
  /** The address this instance's SDP announces. */
  mediaAddress: string;
}

/** Where the other instances reach this one, known once its listeners are bound. */
export interface AdvertisedUrls {
  /** Base URL of the REST API (ADVERTISE_API_URL or derived). */
  apiUrl: string;
  /** host:port of the gRPC API, null when gRPC is off. */
  grpcUrl: string | null;
}

/** What GET /cluster answers. */
export interface ClusterView {
  cluster: string;
  self: string;
  members: MemberRecord[];
}

/**
 * Claims `affinity:<key>` for an instance: set when free (or when it still names `expected`, a
 * draining or lost holder being replaced), added to that instance's affinities set; answers the
 * holder after the call. KEYS: affinity key, the chosen instance's affinities set;
 * ARGV: chosen instance id, expected current holder ('' for none), key.
 */
const CLAIM_AFFINITY = `local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[2] then return cur end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
return ARGV[1]`;

/**
 * The owner of a resource and that owner's member record, in one round trip: `{instance,
 * record or false}`, or nil when no owner record exists. KEYS: owner key; ARGV: member key prefix.
 */
const LOCATE = `local i = redis.call('HGET', KEYS[1], 'instance')
if not i then return nil end
return {i, redis.call('GET', ARGV[1] .. i)}`;

/**
 * This instance as a member of a cluster on Redis (issue 12): membership with heartbeats, the
 * ownership records of what it owns, placement of new endpoints and the owner lookups the APIs
 * forward by. Local work never waits on Redis: ownership is known locally first, and an outage
 * only refuses what needs Redis (placements: 503 CLUSTER_UNAVAILABLE). When Redis returns, even
 * empty, the member record and every ownership record are written again.
 */
export class Cluster {
  readonly id: string;
  readonly name: string;
  readonly keys: ClusterKeys;
  readonly #redis: Redis;
  readonly #log: Logger;
  #urls: AdvertisedUrls = { apiUrl: '', grpcUrl: null };
  readonly #ownership: Ownership;
  readonly #membership: ClusterMembership;
  readonly #unsubscribe: () => void;
  #connectedOnce = false;
  #closed = false;

  private constructor(o: ClusterOptions) {
    this.id = o.config.instanceId;
    this.name = o.config.name;
    this.keys = new ClusterKeys(o.config.name);
    this.#log = moduleLogger(o.logger, 'cluster');
    this.#redis = connectRedis(o.config, `msc-${o.config.instanceId}`);
    this.#ownership = new Ownership({
      redis: this.#redis,
      keys: this.keys,
      instanceId: this.id,
      logger: this.#log,
    });
    this.#membership = new ClusterMembership({
      redis: this.#redis,
      keys: this.keys,
      id: this.id,
      urls: () => this.#urls,
      heartbeatMs: o.config.heartbeatMs,
      memberTtlMs: o.config.memberTtlMs,
      state: () => {
        const c = o.host.capacity();
        const draining = o.host.drainStatus().draining;
        return {
          media_address: o.mediaAddress,
          free_ports: c.portPairsFree * 2,
          endpoints: c.endpoints,
          load: c.portPairs === 0 ? 1 : Math.round((1 - c.portPairsFree / c.portPairs) * 1e6) / 1e6,
          state: draining ? 'draining' : 'ready',
        };
      },
      onRecordLost: () => {
        if (this.#connectedOnce) void this.#resync('member record lost');
      },
    });
    const stopTracking = trackOwnership(o.host.events, this.#ownership, (id) => o.host.endpointAffinity(id));
    // endpoints coming and going, and a drain, change what placement reads: publish at once
    const stopTouching = o.host.events.subscribe((e) => {
      if (e.type === 'endpoint.created' || e.type === 'endpoint.deleted' || e.type === 'server.draining')
        void this.#membership.touch();
    });
    this.#unsubscribe = () => {
      stopTracking();
      stopTouching();
    };
    this.#redis.on('ready', () => this.#onReady());
    this.#redis.on('close', () => {
      if (this.#connectedOnce && !this.#closed)
        this.#log.warn('cluster store (Redis) unreachable; serving owned calls only');
    });
  }

  /**
   * Connects to Redis and follows the control plane's events (ownership); joins nothing yet, so
   * the APIs can be built with it before their ports are known.
   */
  static create(o: ClusterOptions): Cluster {
    return new Cluster(o);
  }

  /**
   * Joins the cluster at `urls`: registers and heartbeats (waiting up to `waitMs` for Redis; an
   * instance that starts during an outage runs alone and registers when Redis comes).
   */
  async join(urls: AdvertisedUrls, waitMs = 3000): Promise<void> {
    this.#urls = urls;
    if (this.#redis.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        this.#redis.once('ready', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.#membership.start();
    await this.#membership.touch();
    if (!this.available) this.#log.warn('cluster store (Redis) not reachable at start; will register when it is');
  }

  #onReady(): void {
    if (this.#closed) return;
    if (!this.#connectedOnce) {
      this.#connectedOnce = true;
      this.#log.info({ instance: this.id, cluster: this.name }, 'joined the cluster');
      void this.#membership.touch().then(() => this.#ownership.resync().catch(() => {}));
      return;
    }
    void this.#resync('cluster store (Redis) reachable again');
  }

  async #resync(why: string): Promise<void> {
    this.#log.info({ instance: this.id }, `${why}: registering again`);
    try {
      await this.#membership.touch();
      await this.#ownership.resync();
    } catch (err) {
      this.#log.warn({ err }, 'could not re-register; next reconnection will');
    }
  }

  /** Redis is reachable now. */
  get available(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Whether this instance owns `id` (no Redis involved). */
  owns(id: string): boolean {
    return this.#ownership.has(id);
  }

  /** Records a resource the API created here that no event announced (a DTMF send); idempotent. */
  claim(id: string, resource: OwnedResource): Promise<void> {
    return this.#ownership.claim(id, resource);
  }

  /**
   * Resolves once the ownership record of `id` and this member's load are written, so that the
   * reply announcing the resource leaves after any instance can find it (and place by its load).
   * Never rejects; bounded, so an outage mid-request delays nothing for long.
   */
  async settled(id: string): Promise<void> {
    const both = Promise.all([this.#ownership.settled(id), this.#membership.touch()]);
    await Promise.race([both, new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  /** A placement's create failed: the affinity key claimed for it goes if no local endpoint holds it. */
  async releaseAffinityIfUnused(key: string): Promise<void> {
    await this.#ownership.releaseAffinityIfUnused(key).catch(() => {});
  }

  /**
   * The live member owning `id` when that is another instance; null when it is this one, nobody
   * (unknown id: the local API answers 404), a member no longer live, or Redis is unreachable (the
   * instance answers from what it has).
   */
  async ownerOf(id: string): Promise<MemberRecord | null> {
    if (this.#ownership.has(id) || !this.available) return null;
    let found: [string, string | null] | null;
    try {
      found = (await this.#redis.eval(LOCATE, 1, this.keys.owner(id), `${this.keys.prefix}member:`)) as
        | [string, string | null]
        | null;
    } catch {
      return null;
    }
    if (found === null || found[0] === this.id || !found[1]) return null;
    try {
      return JSON.parse(found[1]) as MemberRecord;
    } catch {
      return null;
    }
  }

  /** The instance holding an affinity key, or null (free, or Redis unreachable). */
  async affinityOwner(key: string): Promise<string | null> {
    if (!this.available) return null;
    return this.#redis.get(this.keys.affinity(key)).catch(() => null);
  }

  /** The live members as Redis sees them. Throws ClusterUnavailableError during an outage. */
  async members(): Promise<MemberRecord[]> {
    if (!this.available) throw new ClusterUnavailableError();
    try {
      return await liveMembers(this.#redis, this.keys);
    } catch {
      throw new ClusterUnavailableError();
    }
  }

  async view(): Promise<ClusterView> {
    const members = await this.members();
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { cluster: this.name, self: this.id, members };
  }

  /**
   * Where a new endpoint goes: with an affinity key, the instance holding it (claimed for the
   * least-loaded ready instance when free, or when its holder is draining or gone); else the
   * least-loaded ready instance. Null: here. Throws ClusterUnavailableError when Redis cannot
   * record the choice, CapacityError when no instance can take it.
   */
  async place(affinity: string | undefined): Promise<MemberRecord | null> {
    const members = await this.members();
    const byId = new Map(members.map((m) => [m.id, m]));
    const best = leastLoaded(members, this.id);
    const here = (m: MemberRecord) => (m.id === this.id ? null : m);
    if (affinity === undefined) {
      if (best === null) throw this.#noInstance();
      return here(best);
    }
    try {
      const key = this.keys.affinity(affinity);
      const holderId = await this.#redis.get(key);
      const holder = holderId === null ? undefined : byId.get(holderId);
      if (holder !== undefined && holder.state === 'ready') return here(holder);
      if (best === null) throw this.#noInstance();
      const winner = (await this.#redis.eval(
        CLAIM_AFFINITY,
        2,
        key,
        this.keys.affinities(best.id),
        best.id,
        holderId ?? '',
        affinity,
      )) as string;
      const chosen = byId.get(winner);
      if (chosen === undefined) throw this.#noInstance();
      return here(chosen);
    } catch (err) {
      if (err instanceof CapacityError) throw err;
      throw new ClusterUnavailableError();
    }
  }

  #noInstance(): CapacityError {
    return new CapacityError('NO_INSTANCE_AVAILABLE', 'no ready instance of the cluster has a port pair free');
  }

  /** Leaves the cluster (drained, shutting down): no placements come any more; the calls may go on. */
  async leave(): Promise<void> {
    await this.#membership.leave();
  }

  /** Leaves, removes every ownership record of this instance, disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#membership.leave();
    this.#unsubscribe();
    await this.#ownership.close();
    this.#closed = true;
    this.#redis.disconnect();
  }
}
