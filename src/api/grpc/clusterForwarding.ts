import type { Client, Metadata, ServiceError } from '@grpc/grpc-js';
import { CapacityError, InvalidStateError } from '../../common/errors.ts';
import type { Cluster } from '../../cluster/Cluster.ts';
import type { MemberRecord } from '../../cluster/ClusterKeys.ts';
import { ERROR_CODE_TRAILER, GrpcStatusError } from './status.ts';

/** Metadata marking a call one instance forwarded to another (as REST's x-msc-forwarded-by). */
export const FORWARDED_METADATA = 'x-msc-forwarded-by';

/** Request fields naming a resource the call acts on. */
const REFS = ['id', 'endpoint_id', 'endpoint_a', 'endpoint_b', 'bridge_id', 'conference_id'] as const;

/** Calls that name nothing to route by (lists, the server itself). */
const LOCAL_ONLY = new Set([
  'ListEndpoints',
  'ListBridges',
  'ListPlaybacks',
  'ListRecordings',
  'ListConferences',
  'Drain',
  'GetCluster',
]);

/** Calls whose reply names a resource created here (its id, or a flow's session_id). */
const CREATES: Record<string, string> = {
  CreateEndpoint: 'endpoint',
  CreateBridge: 'bridge',
  StartPlayback: 'playback',
  StartRecording: 'recording',
  CreateConference: 'conference',
  SendDtmf: 'dtmf',
  StartFlow: 'flow',
};

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (err: ServiceError | null, reply: unknown) => void,
) => void;

/** What the gRPC server asks of the cluster around each unary call. */
export interface GrpcClusterRouter {
  /** The owner's reply when the call was forwarded; null: answer it here. */
  route(rpc: string, request: Record<string, unknown>, metadata: Metadata): Promise<{ reply: unknown } | null>;
  /** After a local reply: a created resource's owner record is written before the reply leaves. */
  settle(rpc: string, request: Record<string, unknown>, reply: unknown): Promise<void>;
  /** A local call failed (an endpoint create's claimed affinity key goes when unused). */
  failed(rpc: string, request: Record<string, unknown>): Promise<void>;
  close(): void;
}

/**
 * gRPC's half of "any instance answers any request": the same routing rules as REST
 * (src/api/http/clusterRouting.ts), forwarding to the owner's gRPC (`grpc_url`) with a client
 * of the same proto, the caller's metadata (its token) passed on. The owner's error comes back
 * with its status and error-code trailer.
 */
export function grpcClusterRouter(cluster: Cluster, clientOf: (address: string) => Client): GrpcClusterRouter {
  const clients = new Map<string, Client>();

  async function forward(
    owner: MemberRecord,
    rpc: string,
    request: unknown,
    metadata: Metadata,
  ): Promise<{ reply: unknown }> {
    if (owner.grpc_url === null)
      throw new CapacityError('OWNER_UNREACHABLE', `instance ${owner.id}, which owns it, has no gRPC API`);
    let client = clients.get(owner.grpc_url);
    if (client === undefined) {
      client = clientOf(owner.grpc_url);
      clients.set(owner.grpc_url, client);
    }
    const md = metadata.clone();
    md.set(FORWARDED_METADATA, cluster.id);
    const method = (client as unknown as Record<string, UnaryMethod>)[rpc]!.bind(client);
    return new Promise((resolve, reject) => {
      method(request, md, { deadline: Date.now() + 15_000 }, (err, reply) => {
        if (err === null) {
          resolve({ reply });
          return;
        }
        const code = err.metadata?.get(ERROR_CODE_TRAILER)[0];
        const details = err.details ?? err.message;
        const name = typeof code === 'string' ? code : 'OWNER_UNREACHABLE';
        const message = details.startsWith(`${name}: `) ? details.slice(name.length + 2) : details;
        reject(new GrpcStatusError(err.code, name, message));
      });
    });
  }

  return {
    async route(rpc, request, metadata) {
      if (metadata.get(FORWARDED_METADATA).length > 0 || LOCAL_ONLY.has(rpc)) return null;
      if (rpc === 'CreateEndpoint') {
        const affinity = typeof request.affinity === 'string' && request.affinity !== '' ? request.affinity : undefined;
        const target = await cluster.place(affinity);
        return target === null ? null : forward(target, rpc, request, metadata);
      }
      if (rpc === 'CreateConference') {
        const id = request.id;
        if (typeof id !== 'string' || id === '' || cluster.owns(id)) return null;
        const owner = await cluster.ownerOf(id);
        return owner === null ? null : forward(owner, rpc, request, metadata);
      }
      const ids = [
        ...new Set(REFS.map((f) => request[f]).filter((v): v is string => typeof v === 'string' && v !== '')),
      ];
      const local = ids.filter((id) => cluster.owns(id));
      if (local.length === ids.length) return null;
      const remote = new Map<string, MemberRecord>();
      for (const id of ids) {
        if (cluster.owns(id)) continue;
        const owner = await cluster.ownerOf(id);
        if (owner !== null) remote.set(owner.id, owner);
      }
      if (remote.size === 0) return null;
      if (remote.size > 1 || local.length > 0) {
        throw new InvalidStateError(
          'CROSS_INSTANCE',
          `the resources of this call live on different instances (${[...remote.keys(), ...(local.length > 0 ? [cluster.id] : [])].join(', ')}): create the legs of one call, and the members of one conference, with one affinity key`,
        );
      }
      const [owner] = remote.values();
      return forward(owner!, rpc, request, metadata);
    },

    async settle(rpc, request, reply) {
      const kind = CREATES[rpc];
      if (kind === undefined || reply === null || typeof reply !== 'object') return;
      const r = reply as { id?: unknown; session_id?: unknown };
      const id = kind === 'flow' ? r.session_id : r.id;
      if (typeof id !== 'string') return;
      if (!cluster.owns(id)) {
        const endpointId = request.endpoint_id;
        void cluster.claim(id, { kind, ...(typeof endpointId === 'string' ? { endpointId } : {}) });
      }
      await cluster.settled(id);
    },

    async failed(rpc, request) {
      if (rpc === 'CreateEndpoint' && typeof request.affinity === 'string' && request.affinity !== '')
        await cluster.releaseAffinityIfUnused(request.affinity);
    },

    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
