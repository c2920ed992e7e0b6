/**
 * The audio prep tier (TTS, decoding, fetching, its cache of prepared PCM: media/prep/) as the
 * control plane sees it: a service it starts before the media workers, gives each worker a line
 * to (`serve`), reads for metrics and closes. The composition root (main.ts) hands MediaServer
 * the factory, so the control plane imports nothing of the media plane.
 */
import type { MessagePort } from 'node:worker_threads';

export interface PrepSettings {
  /** Threads decoding and synthesising. */
  threads: number;
  /** Bound of the shared cache of prepared PCM, bytes. */
  cacheBytes: number;
  /** HTTP media (and HTTP TTS) destinations allowed / refused beyond the default policy. */
  fetchAllow: readonly string[];
  fetchDeny: readonly string[];
}

export interface PrepStats {
  threads: number;
  jobs: number;
  hits: number;
  misses: number;
  coalesced: number;
  evictions: number;
  bytes: number;
  entries: number;
}

export interface PrepService {
  /** Answers one media worker's prep requests on `port` (the worker holds the other end). */
  serve(port: MessagePort): void;
  /** Resolves once every thread has loaded and warmed its engine. */
  ready(): Promise<void>;
  stats(): PrepStats;
  /** Stops the threads and the ports. Idempotent. */
  close(): void;
}

/** Starts the prep tier (AudioPrepPool.start is one). */
export type StartPrep = (settings: PrepSettings) => PrepService;
