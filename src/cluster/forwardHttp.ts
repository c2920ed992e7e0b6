import { CapacityError } from '../common/errors.ts';
import type { MemberRecord } from './ClusterKeys.ts';

/**
 * Marks a request one instance forwarded to another, naming the sender. An instance never
 * forwards a request that carries it: the owner answers, whatever it finds.
 */
export const FORWARDED_HEADER = 'x-msc-forwarded-by';

/** Request headers passed on to the owner (the rest describe the hop, not the request). */
const PASSED_ON = ['authorization', 'accept', 'x-request-id'];

export interface ForwardedRequest {
  method: string;
  /** Path and query as received, e.g. `/endpoints/abc?x=1`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or undefined when the request had none. */
  body: unknown;
}

/** How long the owner gets to answer a forwarded request. */
const FORWARD_TIMEOUT_MS = 15_000;

/**
 * Sends a request to the instance owning what it names (its `api_url`), the same method, path,
 * body and Authorization, and resolves with the owner's reply to hand back as is. fetch (undici)
 * keeps connections to each owner alive across requests. An owner that cannot be reached is a
 * 503 OWNER_UNREACHABLE (it may just have died: failover reports its calls).
 */
export async function forwardHttp(owner: MemberRecord, req: ForwardedRequest, selfId: string): Promise<Response> {
  const headers: Record<string, string> = { [FORWARDED_HEADER]: selfId };
  for (const name of PASSED_ON) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  let body: string | undefined;
  if (req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD') {
    body = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  try {
    return await fetch(new URL(req.url, owner.api_url), {
      method: req.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
  } catch {
    throw new CapacityError('OWNER_UNREACHABLE', `instance ${owner.id}, which owns it, cannot be reached`);
  }
}
