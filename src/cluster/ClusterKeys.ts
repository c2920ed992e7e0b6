/**
 * The Redis key schema of a cluster: every key an instance reads or writes is named here, so the
 * pieces of src/cluster/ (membership, ownership, placement, forwarding, the event stream,
 * failover) agree on one layout. All keys start with `msc:<CLUSTER_NAME>:`, so several clusters
 * can share one Redis.
 *
 * | key | type | written by | content |
 * |---|---|---|---|
 * | `members` | ZSET | each member, every heartbeat | member id → time of its last heartbeat (ms) |
 * | `member:<id>` | STRING, PX = member TTL | each member, every heartbeat | JSON `MemberRecord` |
 * | `owner:<resourceId>` | HASH | the owner, at create; deleted with the resource | `instance`, `kind` (ResourceKind), optional `affinity`, `endpoint_id` |
 * | `instance:<id>:owned` | SET | the owner | ids of the resources it owns (failover walks it) |
 * | `affinity:<key>` | STRING | the placing instance (SET NX) | the instance id owning that affinity key |
 * | `instance:<id>:affinities` | SET | the owner | affinity keys it owns (released on failover) |
 * | `events` | STREAM | each member (XADD) | one entry per event: `instance`, `event` (JSON) |
 * | `leader` | STRING, PX | the elected member (SET NX PX, renewed) | the leader's instance id |
 * | `lost:<id>` | STRING, PX | the leader (SET NX) | marks instance `<id>` reported lost once |
 * | `events:seq` | STRING | each member (INCR, in the append script) | the last cluster seq given out; entry ids are `<seq>-0` |
 * | `events:appended:<id>` | STRING | member `<id>` (append script) | `<boot>:<n>`: its last appended entry, so a retried append is not doubled |
 * | `webhook:position` | STRING | the leader | cluster seq of the last event the webhook receiver accepted |
 */
export type ResourceKind =
  | 'endpoint'
  | 'bridge'
  | 'playback'
  | 'recording'
  | 'conference'
  | 'flow'
  | 'dtmf'
  | 'stream'
  | 'amd';

/** What a member publishes about itself (`member:<id>`, and `GET /cluster`). */
export interface MemberRecord {
  id: string;
  /** Base URL of its REST API, where other instances forward requests. */
  api_url: string;
  /** host:port of its gRPC listener, or null when gRPC is off. */
  grpc_url: string | null;
  /** The address its SDP announces. */
  media_address: string;
  /** RTP ports still free in its range. */
  free_ports: number;
  endpoints: number;
  /** Placement load: 0 (idle) … 1 (full); endpoints over capacity, worst of ports and workers. */
  load: number;
  state: 'ready' | 'draining';
  started_at: string;
  heartbeat_at: string;
}

export class ClusterKeys {
  readonly prefix: string;

  constructor(clusterName: string) {
    this.prefix = `msc:${clusterName}:`;
  }

  get members(): string {
    return `${this.prefix}members`;
  }
  member(id: string): string {
    return `${this.prefix}member:${id}`;
  }
  owner(resourceId: string): string {
    return `${this.prefix}owner:${resourceId}`;
  }
  owned(instanceId: string): string {
    return `${this.prefix}instance:${instanceId}:owned`;
  }
  affinity(key: string): string {
    return `${this.prefix}affinity:${key}`;
  }
  affinities(instanceId: string): string {
    return `${this.prefix}instance:${instanceId}:affinities`;
  }
  get events(): string {
    return `${this.prefix}events`;
  }
  get leader(): string {
    return `${this.prefix}leader`;
  }
  lost(instanceId: string): string {
    return `${this.prefix}lost:${instanceId}`;
  }
  get eventSeq(): string {
    return `${this.prefix}events:seq`;
  }
  eventsAppended(instanceId: string): string {
    return `${this.prefix}events:appended:${instanceId}`;
  }
  get webhookPosition(): string {
    return `${this.prefix}webhook:position`;
  }
}
