import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './errorHandler.ts';

/**
 * Routes reachable without the token. Only liveness: a probe (kubelet, load balancer) must not
 * need the secret, and the reply `{status:'ok'}` tells nothing. /ready, /metrics and /docs
 * describe the deployment and stay behind the token.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/health']);

/** The only route that also takes `?token=`: browsers' WebSocket API cannot set headers. */
export const QUERY_TOKEN_ROUTES: ReadonlySet<string> = new Set(['/events']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Constant-time comparison. Both sides are hashed first so the buffers always have equal length
 * (timingSafeEqual requires it) and the token's length does not leak through timing either.
 */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** onRequest hook requiring `Authorization: Bearer <token>` (RFC 6750 section 2.1). */
export function createAuthHook(token: string) {
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const route = request.routeOptions.url;
    if (route !== undefined && PUBLIC_ROUTES.has(route)) return undefined;
    let given = bearer(request.headers.authorization);
    if (given === undefined && route !== undefined && QUERY_TOKEN_ROUTES.has(route)) {
      const q = request.query as Record<string, unknown> | undefined;
      if (typeof q?.token === 'string') given = q.token;
    }
    if (tokenMatches(token, given)) return undefined;
    // returning the reply from an async hook ends the request here
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send(errorBody('UNAUTHORIZED', 'missing or invalid bearer token'));
  };
}
