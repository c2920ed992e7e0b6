import type { Redis } from 'ioredis';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { ServerEventType, ServerEvents } from '../control/events.ts';
import type { ClusterKeys } from './ClusterKeys.ts';

/** Deletes each affinity key only while it still names the lost member (a new owner may have it). */
const RELEASE_AFFINITIES_LUA = `
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n
`;

/** How an event of the catalogue reaches the cluster stream on behalf of `instance`. */
export type FailoverPublish = <T extends ServerEventType>(instance: string, type: T, payload: ServerEvents[T]) => void;

export interface FailoverOptions {
  redis: Redis;
  keys: ClusterKeys;
  /** This (the leader's) id: never reported lost by itself; named in `reported_by`. */
  instanceId: string;
  /** CLUSTER_MEMBER_TTL_MS: a member whose last heartbeat is older than this is lost. */
  memberTtlMs: number;
  publish: FailoverPublish;
  /**
   * What the cluster stream the leader holds says of flow sessions: the flow each one runs (for
   * flow.failed; ownership records do not keep it) and those already ended (finished sessions
   * stay owned a while so their owner can still answer for them: they are not reported failed).
   */
  flowSessions?: () => FlowSessionsSeen;
  logger?: Logger;
}

export interface FlowSessionsSeen {
  /** session id → flow name, from flow.started. */
  flows: ReadonlyMap<string, string>;
  /** Sessions that reported flow.completed or flow.failed. */
  ended: ReadonlySet<string>;
}

/** What one failover did (tests and logs). */
export interface LostInstanceReport {
  instance: string;
  endpoints: string[];
  flowSessions: string[];
  affinities: string[];
  /** Ownership records removed (every kind). */
  resources: number;
  /** How long the member had been silent when the leader reported it. */
  silentMs: number;
}

/**
 * The leader's failover round: finds members that stopped heartbeating (their `members` score is
 * older than the member TTL and their `member:<id>` record has expired), and for each, once
 * (`lost:<id>` SET NX): reports its endpoints `endpoint.deleted {reason: instance_lost}`, its flow
 * sessions `flow.failed`, then `instance.lost`; releases its affinity keys (so the next
 * POST /endpoints with one lands on a healthy member), deletes its ownership records and removes it
 * from the members. The events speak for the lost instance (their `instance` is its id).
 */
export class Failover {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #id: string;
  readonly #ttlMs: number;
  readonly #publish: FailoverPublish;
  readonly #flowSessions: () => FlowSessionsSeen;
  readonly #log: Logger;

  constructor(opts: FailoverOptions) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#id = opts.instanceId;
    this.#ttlMs = opts.memberTtlMs;
    this.#publish = opts.publish;
    this.#flowSessions = opts.flowSessions ?? (() => ({ flows: new Map(), ended: new Set() }));
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'cluster-failover');
  }

  /** One round; rejects when Redis is away (the caller retries next round). */
  async sweep(now = Date.now()): Promise<LostInstanceReport[]> {
    const k = this.#keys;
    const stale = await this.#redis.zrangebyscore(k.members, '-inf', `(${now - this.#ttlMs}`, 'WITHSCORES');
    const reports: LostInstanceReport[] = [];
    for (let i = 0; i + 1 < stale.length; i += 2) {
      const id = stale[i] as string;
      const lastHeartbeat = Number(stale[i + 1]);
      if (id === this.#id) continue;
      // a live record means the member is heartbeating (its score write was what lagged)
      if ((await this.#redis.exists(k.member(id))) === 1) continue;
      const claim = await this.#redis.set(k.lost(id), this.#id, 'PX', Math.max(60_000, 10 * this.#ttlMs), 'NX');
      if (claim !== 'OK') continue;
      reports.push(await this.#reportLost(id, lastHeartbeat, now));
    }
    return reports;
  }

  async #reportLost(id: string, lastHeartbeat: number, now: number): Promise<LostInstanceReport> {
    const k = this.#keys;
    const owned = await this.#redis.smembers(k.owned(id));
    const records = owned.length === 0 ? [] : await this.#ownerRecords(owned);
    const endpoints: string[] = [];
    const flowRecords: Array<{ id: string; rec: Record<string, string> }> = [];
    const flows: Array<{ id: string; flow: string; endpointId: string }> = [];
    const mine: string[] = [];
    for (let i = 0; i < owned.length; i++) {
      const rid = owned[i] as string;
      const rec = records[i] ?? {};
      // a record another member took over (or already gone) is not ours to report or delete
      if (rec.instance !== undefined && rec.instance !== id) continue;
      mine.push(rid);
      if (rec.kind === 'endpoint') endpoints.push(rid);
      else if (rec.kind === 'flow') flowRecords.push({ id: rid, rec });
    }
    endpoints.sort();
    // a session still running has its endpoint alive on the same instance (flows run where their
    // endpoint lives) and has not reported its end; the others are finished sessions kept owned
    const seen = flowRecords.length === 0 ? null : this.#flowSessions();
    const live = new Set(endpoints);
    for (const { id: rid, rec } of flowRecords) {
      const endpointId = rec.endpoint_id ?? '';
      if (rec.ended !== undefined || !live.has(endpointId) || seen?.ended.has(rid)) continue;
      flows.push({ id: rid, flow: rec.flow ?? seen?.flows.get(rid) ?? '', endpointId });
    }
    flows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const endpointId of endpoints) {
      this.#publish(id, 'endpoint.deleted', { endpoint_id: endpointId, reason: 'instance_lost' });
    }
    for (const f of flows) {
      this.#publish(id, 'flow.failed', {
        session_id: f.id,
        flow: f.flow,
        endpoint_id: f.endpointId,
        error: { code: 'INSTANCE_LOST', message: `instance ${id} stopped heartbeating`, step: null },
        variables: {},
      });
    }
    const affinityKeys = await this.#redis.smembers(k.affinities(id));
    const silentMs = Math.max(0, now - lastHeartbeat);
    this.#publish(id, 'instance.lost', {
      endpoints,
      flow_sessions: flows.map((f) => f.id),
      affinities: [...affinityKeys].sort(),
      reported_by: this.#id,
      last_heartbeat_at: new Date(lastHeartbeat).toISOString(),
    });
    if (affinityKeys.length > 0) {
      await this.#redis.eval(
        RELEASE_AFFINITIES_LUA,
        affinityKeys.length,
        ...affinityKeys.map((a) => k.affinity(a)),
        id,
      );
    }
    const tx = this.#redis.multi();
    for (const rid of mine) tx.del(k.owner(rid));
    tx.del(k.owned(id), k.affinities(id), k.member(id));
    tx.zrem(k.members, id);
    await tx.exec();
    this.#log.warn(
      { instance: id, endpoints: endpoints.length, flow_sessions: flows.length, silent_ms: silentMs },
      'cluster member lost: its calls reported ended, its affinities released',
    );
    return {
      instance: id,
      endpoints,
      flowSessions: flows.map((f) => f.id),
      affinities: affinityKeys,
      resources: mine.length,
      silentMs,
    };
  }

  async #ownerRecords(ids: string[]): Promise<Array<Record<string, string>>> {
    const p = this.#redis.pipeline();
    for (const rid of ids) p.hgetall(this.#keys.owner(rid));
    const res = (await p.exec()) ?? [];
    return res.map(([err, v]) =>
      err === null && v !== null && typeof v === 'object' ? (v as Record<string, string>) : {},
    );
  }
}
