import { ValidationError } from '../../common/errors.ts';

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
}

export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
export const DEFAULT_FETCH_MAX_BYTES = 20 * 1024 * 1024;

/**
 * Fetch a media body with a timeout and a size limit. Every failure is a ValidationError with a
 * code the API can report: MEDIA_FETCH_TIMEOUT, MEDIA_TOO_LARGE, MEDIA_FETCH_FAILED (HTTP status or
 * network error). A caller abort is rethrown as the signal's reason.
 */
export async function fetchMedia(url: string, opts: FetchMediaOptions = {}): Promise<Uint8Array> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_FETCH_MAX_BYTES;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal]);
  const fail = (err: unknown): never => {
    if (opts.signal?.aborted === true) throw opts.signal.reason;
    if (timeout.aborted) throw new ValidationError('MEDIA_FETCH_TIMEOUT', `${opts.method ?? 'GET'} ${url}: no complete answer within ${timeoutMs} ms`);
    if (err instanceof ValidationError) throw err;
    // undici hides the reason (ECONNREFUSED, ENOTFOUND, bad port) in `cause`.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ValidationError('MEDIA_FETCH_FAILED', `${opts.method ?? 'GET'} ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  };
  try {
    const init: RequestInit = { method: opts.method ?? 'GET', signal, redirect: 'follow' };
    if (opts.headers !== undefined) init.headers = opts.headers;
    if (opts.body !== undefined) init.body = opts.body;
    const res = await fetch(url, init);
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new ValidationError('MEDIA_FETCH_FAILED', `${opts.method ?? 'GET'} ${url}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new ValidationError('MEDIA_TOO_LARGE', `${url}: body of ${declared} bytes exceeds the ${maxBytes} byte limit`);
    }
    if (res.body === null) return new Uint8Array(0);
    // Count while reading: Content-Length may be absent (chunked) or wrong.
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new ValidationError('MEDIA_TOO_LARGE', `${url}: body exceeds the ${maxBytes} byte limit`);
      }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  } catch (err) {
    return fail(err);
  }
}
