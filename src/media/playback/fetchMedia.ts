import { ValidationError } from '../../common/errors.ts';
import { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import {
  guardedRequest,
  readBodyCapped,
  RedirectError,
  UnreachableError,
  type GuardedRequestOptions,
} from '../../common/net/guardedRequest.ts';

export interface FetchMediaOptions {
  /** Whole-request limit (connect, headers and body), ms. Default 10 000. */
  timeoutMs?: number;
  /** Largest body accepted, bytes. Default 20 MiB. */
  maxBytes?: number;
  /** Caller cancellation (playback stopped, call hung up). */
  signal?: AbortSignal;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Where the request may go (MEDIA_FETCH_ALLOW / MEDIA_FETCH_DENY); the default policy without one. */
  policy?: DestinationPolicy;
  /** Told the real reason of a MEDIA_FETCH_FAILED that the error text keeps generic (for logs). */
  onUnreachable?: (url: string, detail: string) => void;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
export const DEFAULT_FETCH_MAX_BYTES = 20 * 1024 * 1024;

let defaultPolicy: DestinationPolicy | null = null;

/**
 * Fetch a media body with a timeout, a size limit and a destination policy. Every failure is a
 * ValidationError with a code the API can report: MEDIA_FETCH_TIMEOUT, MEDIA_TOO_LARGE,
 * MEDIA_FETCH_FAILED (HTTP status, redirects, or a destination refused or unreachable: one text
 * for the last, so errors cannot map which internal ports answer). A caller abort is rethrown as
 * the signal's reason.
 */
export async function fetchMedia(url: string, opts: FetchMediaOptions = {}): Promise<Uint8Array> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_FETCH_MAX_BYTES;
  const method = opts.method ?? 'GET';
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal]);
  const fail = (err: unknown): never => {
    if (opts.signal?.aborted === true) throw opts.signal.reason;
    if (timeout.aborted)
      throw new ValidationError('MEDIA_FETCH_TIMEOUT', `${method} ${url}: no complete answer within ${timeoutMs} ms`);
    if (err instanceof ValidationError) throw err;
    if (err instanceof RedirectError)
      throw new ValidationError('MEDIA_FETCH_FAILED', `${method} ${url}: ${err.message}`);
    opts.onUnreachable?.(url, err instanceof UnreachableError ? err.detail : String(err));
    throw new ValidationError('MEDIA_FETCH_FAILED', `${method} ${url}: destination refused or unreachable`);
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError('MEDIA_FETCH_FAILED', `${method} ${url}: not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ValidationError('MEDIA_FETCH_FAILED', `${method} ${url}: only http and https URLs are fetched`);
  }
  try {
    const init: GuardedRequestOptions = {
      policy: opts.policy ?? (defaultPolicy ??= new DestinationPolicy()),
      method,
      signal,
    };
    if (opts.headers !== undefined) init.headers = opts.headers;
    if (opts.body !== undefined) init.body = opts.body;
    const res = await guardedRequest(url, init);
    if (res.status < 200 || res.status > 299) {
      res.body.destroy();
      throw new ValidationError('MEDIA_FETCH_FAILED', `${method} ${url}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (declared > maxBytes) {
      res.body.destroy();
      throw new ValidationError(
        'MEDIA_TOO_LARGE',
        `${url}: body of ${declared} bytes exceeds the ${maxBytes} byte limit`,
      );
    }
    const body = await readBodyCapped(res, maxBytes);
    if (body === null) throw new ValidationError('MEDIA_TOO_LARGE', `${url}: body exceeds the ${maxBytes} byte limit`);
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } catch (err) {
    return fail(err);
  }
}
