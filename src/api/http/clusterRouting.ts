import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidStateError } from '../../common/errors.ts';
import type { Cluster } from '../../cluster/Cluster.ts';
import type { MemberRecord } from '../../cluster/ClusterKeys.ts';
import { FORWARDED_HEADER, forwardHttp } from '../../cluster/forwardHttp.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when this instance forwarded the request to another: its reply is that one's. */
    clusterForwardedTo?: string;
  }
}

/** Body fields that name a resource a request acts on (creates of bridges, playbacks, recordings...). */
const BODY_REFS = ['endpoint_id', 'endpoint_a', 'endpoint_b', 'bridge_id', 'conference_id'] as const;

/** The owner-independent reply headers handed back from a forwarded request. */
const REPLY_HEADERS = ['content-type', 'content-length', 'content-disposition', 'retry-after'];

/** POST routes whose reply names no new resource. */
const NOT_CREATES = new Set(['participants', 'admin', 'drain', 'pause', 'resume', 'flows']);

/** Resource kind of a create route, from its last static path segment (`/endpoints/:id/dtmf` → dtmf). */
function createdKind(route: string): string | null {
  const last = route
    .split('/')
    .filter((s) => s !== '' && !s.startsWith(':'))
    .at(-1);
  if (last === undefined || NOT_CREATES.has(last)) return null;
  const known: Record<string, string> = {
    endpoints: 'endpoint',
    bridges: 'bridge',
    playback: 'playback',
    recordings: 'recording',
    conferences: 'conference',
    flow: 'flow',
    'flow-sessions': 'flow',
    dtmf: 'dtmf',
  };
  return known[last] ?? (last.endsWith('s') ? last.slice(0, -1) : last);
}

/** The ids a request names: its `:id`-style path parameters and the references in its body. */
function namedIds(request: FastifyRequest): string[] {
  const ids: string[] = [];
  const params = (request.params ?? {}) as Record<string, unknown>;
  for (const name of ['id', 'endpoint_id']) if (typeof params[name] === 'string') ids.push(params[name]);
  const body = request.body;
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    for (const name of BODY_REFS) if (typeof b[name] === 'string') ids.push(b[name]);
    if (Array.isArray(b.endpoints)) for (const e of b.endpoints) if (typeof e === 'string') ids.push(e);
  }
  return [...new Set(ids)];
}

/**
 * Makes any instance answer any request (issue 12): a request naming a resource another instance
 * owns is forwarded to that owner and its reply handed back as is; `POST /endpoints` is placed
 * (affinity key, else the least-loaded ready instance) and forwarded when placed elsewhere; the
 * reply to a create leaves only once its ownership record is written, so a client may ask any
 * instance about the new id at once. Requests naming only local resources never touch Redis.
 * Added before the routes, so its hooks run for every route (added by other parts too).
 */
export function addClusterRouting(app: FastifyInstance, cluster: Cluster): void {
  const forward = async (request: FastifyRequest, reply: FastifyReply, owner: MemberRecord) => {
    request.clusterForwardedTo = owner.id;
    const res = await forwardHttp(
      owner,
      { method: request.method, url: request.url, headers: request.headers, body: request.body },
      cluster.id,
    );
    reply.code(res.status);
    for (const name of REPLY_HEADERS) {
      const v = res.headers.get(name);
      if (v !== null) reply.header(name, v);
    }
    if (res.body === null || res.status === 204) return reply.send();
    // streamed, not buffered: a recording may be large
    return reply.send(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>));
  };

  app.addHook('preHandler', async (request, reply) => {
    if (request.headers[FORWARDED_HEADER] !== undefined) return;
    const route = request.routeOptions.url;
    if (route === undefined) return;
    if (request.method === 'POST' && route === '/endpoints') {
      const affinity = (request.body as { affinity?: unknown } | undefined)?.affinity;
      const target = await cluster.place(typeof affinity === 'string' ? affinity : undefined);
      if (target !== null) return forward(request, reply, target);
      return;
    }
    if (request.method === 'POST' && route === '/conferences') {
      // a conference named by the client goes where its id already lives, or where endpoints
      // created with that id as their affinity key live, so its members mix locally
      const id = (request.body as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string' || cluster.owns(id)) return;
      const owner = (await cluster.ownerOf(id)) ?? (await affinityHolder(id));
      if (owner !== null) return forward(request, reply, owner);
      return;
    }
    const ids = namedIds(request);
    if (ids.length === 0) return;
    const local = ids.filter((id) => cluster.owns(id));
    if (local.length === ids.length) return;
    const remote = new Map<string, { owner: MemberRecord; id: string }>();
    for (const id of ids) {
      if (cluster.owns(id)) continue;
      const owner = await cluster.ownerOf(id);
      if (owner !== null && !remote.has(owner.id)) remote.set(owner.id, { owner, id });
    }
    if (remote.size === 0) return; // unknown elsewhere too: answered here (404)
    if (remote.size > 1 || local.length > 0) {
      const where = [...remote.values()].map((r) => `${r.id} on ${r.owner.id}`);
      if (local.length > 0) where.push(`${local[0]} on ${cluster.id}`);
      throw new InvalidStateError(
        'CROSS_INSTANCE',
        `the resources of this request live on different instances (${where.join(', ')}): create the legs of one call, and the members of one conference, with one affinity key`,
      );
    }
    const [only] = remote.values();
    return forward(request, reply, only!.owner);
  });

  async function affinityHolder(key: string): Promise<MemberRecord | null> {
    try {
      const members = await cluster.members();
      const target = await cluster.affinityOwner(key);
      const m = members.find((x) => x.id === target);
      return m === undefined || m.id === cluster.id ? null : m;
    } catch {
      return null;
    }
  }

  // the reply to a create leaves once the new resource's owner record is written
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method !== 'POST' || request.clusterForwardedTo !== undefined) return payload;
    const route = request.routeOptions.url;
    if (route === undefined) return payload;
    if (reply.statusCode >= 300) {
      const affinity = (request.body as { affinity?: unknown } | undefined)?.affinity;
      if (route === '/endpoints' && typeof affinity === 'string') await cluster.releaseAffinityIfUnused(affinity);
      return payload;
    }
    const kind = createdKind(route);
    if (kind === null || typeof payload !== 'string') return payload;
    let id: unknown;
    try {
      const body = JSON.parse(payload) as { id?: unknown; session_id?: unknown };
      id = kind === 'flow' ? (body.session_id ?? body.id) : body.id;
    } catch {
      return payload;
    }
    if (typeof id !== 'string') return payload;
    const endpointId = (request.params as { id?: unknown } | undefined)?.id;
    if (!cluster.owns(id)) {
      void cluster.claim(id, {
        kind,
        ...(kind !== 'endpoint' && typeof endpointId === 'string' ? { endpointId } : {}),
      });
    }
    await cluster.settled(id);
    return payload;
  });
}
