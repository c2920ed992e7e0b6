import type { DecodedAudio } from './decodeAudio.ts';

export interface PromptCacheOptions {
  /** Bound on the PCM bytes held (2 bytes a sample). Default 64 MiB. */
  maxBytes?: number;
  /** Clock for TTL expiry, ms; injectable for tests. Default performance.now(). */
  now?: () => number;
}

export interface PromptCacheLoadOptions {
  /** Entry lifetime in ms (HTTP items); undefined: until evicted. */
  ttlMs?: number;
  /** Abandon this caller's wait; the shared load goes on for the others and fills the cache. */
  signal?: AbortSignal;
}

export interface PromptCacheStats {
  hits: number;
  misses: number;
  /** Callers that joined a load already in flight (counted as misses too). */
  coalesced: number;
  evictions: number;
  expirations: number;
  loadErrors: number;
  bytes: number;
  entries: number;
  inflight: number;
  maxBytes: number;
}

interface Entry {
  readonly audio: DecodedAudio;
  readonly bytes: number;
  readonly expiresAt: number;
}

/**
 * Decoded audio per (source key, rate), shared by every call of a worker so that a prompt is
 * decoded once: an LRU bounded in bytes, single-flight loads (concurrent misses on one key share
 * one decode), optional per-entry TTL, and counters for /metrics.
 *
 * Keys are built by the caller and must change when the source changes (see `fileKey`).
 */
export class PromptCache {
  readonly maxBytes: number;
  readonly #now: () => number;
  /** Map iteration order is insertion order: re-inserting on hit makes the first key the LRU one. */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<DecodedAudio>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #coalesced = 0;
  #evictions = 0;
  #expirations = 0;
  #loadErrors = 0;

  constructor(opts: PromptCacheOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Cached audio for `key`, refreshing its recency; undefined on a miss or an expired entry. */
  get(key: string): DecodedAudio | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#remove(key, e);
      this.#expirations++;
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.audio;
  }

  has(key: string): boolean {
    const e = this.#entries.get(key);
    return e !== undefined && e.expiresAt > this.#now();
  }

  /**
   * Insert, evicting least recently used entries until the byte bound holds. Audio larger than the
   * whole cache is not stored (it would evict everything and then itself).
   */
  set(key: string, audio: DecodedAudio, ttlMs?: number): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#remove(key, old);
    const bytes = audio.pcm.byteLength;
    if (bytes > this.maxBytes) return;
    while (this.#bytes + bytes > this.maxBytes) {
      const lru = this.#entries.entries().next();
      if (lru.done === true) break;
      this.#remove(lru.value[0], lru.value[1]);
      this.#evictions++;
    }
    const expiresAt = ttlMs === undefined ? Infinity : this.#now() + ttlMs;
    this.#entries.set(key, { audio, bytes, expiresAt });
    this.#bytes += bytes;
  }

  /**
   * The audio for `key`: from the cache, from a load already running for it, or by running `load`
   * once. A failed load is not cached and every waiter gets its error.
   */
  async getOrLoad(
    key: string,
    load: () => Promise<DecodedAudio>,
    opts: PromptCacheLoadOptions = {},
  ): Promise<DecodedAudio> {
    opts.signal?.throwIfAborted();
    const hit = this.get(key);
    if (hit !== undefined) {
      this.#hits++;
      return hit;
    }
    this.#misses++;
    let p = this.#inflight.get(key);
    if (p !== undefined) {
      this.#coalesced++;
    } else {
      p = this.#load(key, load, opts.ttlMs);
      this.#inflight.set(key, p);
    }
    return opts.signal === undefined ? p : raceAbort(p, opts.signal);
  }

  async #load(key: string, load: () => Promise<DecodedAudio>, ttlMs: number | undefined): Promise<DecodedAudio> {
    try {
      const audio = await load();
      this.set(key, audio, ttlMs);
      return audio;
    } catch (err) {
      this.#loadErrors++;
      throw err;
    } finally {
      this.#inflight.delete(key);
    }
  }

  delete(key: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    this.#remove(key, e);
    return true;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  stats(): PromptCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      coalesced: this.#coalesced,
      evictions: this.#evictions,
      expirations: this.#expirations,
      loadErrors: this.#loadErrors,
      bytes: this.#bytes,
      entries: this.#entries.size,
      inflight: this.#inflight.size,
      maxBytes: this.maxBytes,
    };
  }

  #remove(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Key of a file at a rate; mtime and size make an edited prompt a new key (the old one ages out). */
export function fileKey(realPath: string, mtimeMs: number, size: number, rate: number): string {
  return `file:${realPath}|${mtimeMs}|${size}@${rate}`;
}

export function urlKey(url: string, rate: number): string {
  return `url:${url}@${rate}`;
}
