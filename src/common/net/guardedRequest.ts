import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import type { DestinationPolicy } from './DestinationPolicy.ts';

/**
 * The destination was refused by the policy or could not be reached (DNS, connect, TLS). One
 * class and, in what callers show, one text for all of them, so that error texts do not tell a
 * refused address from a closed port from an open one; `detail` is for the server's own logs.
 */
export class UnreachableError extends Error {
  readonly detail: string;
  constructor(detail: string) {
    super('destination refused or unreachable');
    this.name = 'UnreachableError';
    this.detail = detail;
  }
}

/** More redirects than allowed, or one to a scheme other than http(s). */
export class RedirectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedirectError';
  }
}

export interface GuardedRequestOptions {
  policy: DestinationPolicy;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Redirects followed at most, each hop checked like the first. Default 5. */
  maxRedirects?: number;
}

export interface GuardedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body stream; the caller reads or destroys it. */
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: string;
}

/** Headers that carry credentials: not sent on to another origin (Fetch standard, "HTTP-redirect fetch"). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * A DNS lookup that only returns addresses the policy allows for `host`, so the address the socket
 * connects to is the address checked (no window for DNS rebinding between check and connect).
 */
function guardedLookup(policy: DestinationPolicy, host: string): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(
      hostname,
      { family: options.family ?? 0, hints: options.hints ?? 0, all: true },
      (err, addresses: LookupAddress[]) => {
        if (err) {
          callback(err, '', 0);
          return;
        }
        const allowed = addresses.filter((a) => policy.allows(host, a.address));
        if (allowed.length === 0) {
          callback(
            new UnreachableError(
              `${hostname} resolves only to refused addresses (${addresses.map((a) => a.address).join(', ')})`,
            ),
            '',
            0,
          );
          return;
        }
        if (options.all === true) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      },
    );
  };
}

/** One hop: connects only where the policy allows, and checks the connected peer again. */
function requestOnce(
  url: URL,
  opts: GuardedRequestOptions,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const host = url.hostname;
    if (!opts.policy.allowsHost(host)) {
      reject(new UnreachableError(`${host} is refused by the destination policy`));
      return;
    }
    const mod = url.protocol === 'https:' ? https : http;
    const reqHeaders: OutgoingHttpHeaders = { ...headers };
    if (body !== undefined) reqHeaders['content-length'] = Buffer.byteLength(body);
    const req = mod.request(url, {
      method,
      headers: reqHeaders,
      // a fresh connection per request: a pooled socket's peer was checked for another request
      agent: false,
      lookup: guardedLookup(opts.policy, host),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    req.once('socket', (socket: Socket) => {
      socket.once('connect', () => {
        const peer = socket.remoteAddress;
        if (peer === undefined || !opts.policy.allows(host, peer))
          req.destroy(new UnreachableError(`connected to refused address ${peer ?? '?'}`));
      });
    });
    req.once('response', resolve);
    req.once('error', (err: Error & { code?: string }) => {
      if (err instanceof UnreachableError || err.name === 'AbortError') reject(err);
      else reject(new UnreachableError(`${err.code ?? err.name}: ${err.message}`));
    });
    req.end(body);
  });
}

/**
 * An HTTP(S) request whose every hop is checked against `policy`: the URL host before any DNS,
 * each resolved address before connecting, the connected peer after, and every redirect target
 * (at most `maxRedirects`). Refused and unreachable destinations reject with UnreachableError;
 * a caller abort rejects with the AbortError of `signal`.
 */
export async function guardedRequest(target: string, opts: GuardedRequestOptions): Promise<GuardedResponse> {
  const maxRedirects = opts.maxRedirects ?? 5;
  let url = new URL(target);
  let method = (opts.method ?? 'GET').toUpperCase();
  let body = opts.body;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new RedirectError(`unsupported scheme ${url.protocol}`);
    const res = await requestOnce(url, opts, method, headers, body);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || location === undefined) {
      return { status, headers: res.headers, body: res, url: url.href };
    }
    res.resume();
    if (hop >= maxRedirects) throw new RedirectError(`more than ${maxRedirects} redirects`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new RedirectError('redirect to an invalid location');
    }
    // 303, and 301/302 after a POST, continue as GET without a body (Fetch standard, as browsers do)
    if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
      if (method !== 'HEAD') method = 'GET';
      body = undefined;
      delete headers['content-type'];
    }
    if (next.origin !== url.origin) for (const h of CREDENTIAL_HEADERS) delete headers[h];
    url = next;
  }
}

/**
 * Reads a response body, counting while reading (Content-Length may be absent or wrong): the
 * bytes (in a buffer of their own, not Node's shared pool), or null once more than `maxBytes`
 * came (the stream is destroyed).
 */
export async function readBodyCapped(res: GuardedResponse, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      res.body.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
