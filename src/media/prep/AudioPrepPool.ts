import { stat } from 'node:fs/promises';
import type { MessagePort, Worker } from 'node:worker_threads';
import { deserializeError, serializeError, ValidationError } from '../../common/errors.ts';
import { startThread } from '../../common/startThread.ts';
import type { DecodedAudio } from '../playback/decodeAudio.ts';
import { fileKey, PromptCache, urlKey, type PromptCacheStats } from '../playback/PromptCache.ts';
import {
  ttsKey,
  type AudioPrep,
  type PrepClientMessage,
  type PrepRequest,
  type PrepServerMessage,
} from './AudioPrep.ts';
import type { ThreadJob, ThreadReply } from './prepThread.ts';
import type { PrepService, PrepSettings, StartPrep } from '../../protocol/prep.ts';

export interface AudioPrepPoolOptions {
  /** Threads decoding and synthesising; default 2. */
  threads?: number;
  /** Bound of the shared cache of prepared PCM, bytes; default 64 MiB. */
  cacheBytes?: number;
  /** Engine name a TTS request without one is cached under (the threads' default engine). */
  defaultEngine?: string;
  /** HTTP media (and HTTP TTS) destinations allowed / refused beyond the default policy (MEDIA_FETCH_ALLOW / _DENY). */
  fetchAllow?: readonly string[];
  fetchDeny?: readonly string[];
}

export const DEFAULT_PREP_THREADS = 2;
export const DEFAULT_PREP_CACHE_BYTES = 64 * 1024 * 1024;
const DEFAULT_HTTP_TTL_MS = 5 * 60_000;

interface Thread {
  readonly worker: Worker;
  busy: number;
  dead: boolean;
}

interface Job {
  readonly thread: Thread;
  resolve(audio: DecodedAudio): void;
  reject(err: Error): void;
}

export interface AudioPrepStats extends PromptCacheStats {
  threads: number;
  jobs: number;
}

/**
 * The TTS and decode pool: a few worker threads (espeak-ng loaded and warmed at start, decoders
 * loaded) and one cache of prepared PCM in front of them, bounded in bytes, with single-flight
 * loads. It lives on the control plane's thread and serves every media worker through a
 * MessagePort (`serve()`); the PCM is in SharedArrayBuffers, so a cached prompt is one copy in
 * memory however many workers play it. Nothing here runs on a media clock.
 */
export class AudioPrepPool implements AudioPrep, PrepService {
  /** The prep tier the control plane starts (main.ts hands it to MediaServer). */
  static readonly start: StartPrep = (s: PrepSettings) => new AudioPrepPool(s);

  readonly cache: PromptCache;
  readonly #threads: Thread[] = [];
  readonly #jobs = new Map<number, Job>();
  readonly #ports = new Set<MessagePort>();
  readonly #defaultEngine: string;
  readonly #ready: Promise<void>;
  readonly #threadData: { fetchAllow: string[]; fetchDeny: string[] };
  #nextId = 1;
  #closed = false;

  constructor(o: AudioPrepPoolOptions = {}) {
    this.cache = new PromptCache({ maxBytes: o.cacheBytes ?? DEFAULT_PREP_CACHE_BYTES });
    this.#defaultEngine = o.defaultEngine ?? 'espeak-wasm';
    this.#threadData = { fetchAllow: [...(o.fetchAllow ?? [])], fetchDeny: [...(o.fetchDeny ?? [])] };
    const n = Math.max(1, o.threads ?? DEFAULT_PREP_THREADS);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) ready.push(this.#spawn());
    this.#ready = Promise.all(ready).then(() => undefined);
  }

  /** Resolves once every thread has loaded and warmed its engine (a request before waits for it anyway). */
  ready(): Promise<void> {
    return this.#ready;
  }

  #spawn(): Promise<void> {
    const worker = startThread(new URL('./prepThread.ts', import.meta.url), { workerData: this.#threadData });
    const thread: Thread = { worker, busy: 0, dead: false };
    worker.unref();
    this.#threads.push(thread);
    return new Promise<void>((resolve) => {
      worker.on('message', (m: ThreadReply) => {
        if (m.t === 'ready') resolve();
        else this.#onReply(m);
      });
      const die = (err: Error): void => {
        resolve();
        this.#kill(thread, err);
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`audio prep thread exited with code ${code}`)));
    });
  }

  async prepare(req: PrepRequest, signal?: AbortSignal): Promise<DecodedAudio> {
    if (this.#closed) throw new ValidationError('PREP_CLOSED', 'the audio prep pool is closed');
    const opts: { signal?: AbortSignal; ttlMs?: number } = {};
    if (signal !== undefined) opts.signal = signal;
    switch (req.kind) {
      case 'file': {
        // mtime and size in the key: an edited prompt is a new entry.
        const st = await stat(req.path);
        if (!st.isFile()) throw new ValidationError('INVALID_MEDIA', `${req.label}: not a regular file`);
        return this.cache.getOrLoad(fileKey(req.path, st.mtimeMs, st.size, req.sampleRate), () => this.#run(req), opts);
      }
      case 'url':
        opts.ttlMs = req.ttlMs ?? DEFAULT_HTTP_TTL_MS;
        return this.cache.getOrLoad(urlKey(req.url, req.sampleRate), () => this.#run(req), opts);
      case 'tts':
        return this.cache.getOrLoad(ttsKey(req.engine ?? this.#defaultEngine, req), () => this.#run(req), opts);
      default:
        throw new ValidationError('INVALID_MEDIA', `unknown prep request kind '${(req as { kind: string }).kind}'`);
    }
  }

  /** Answer PrepClientMessages arriving on `port` (one per media worker) until it closes. */
  serve(port: MessagePort): void {
    this.#ports.add(port);
    port.on('message', (m: PrepClientMessage) => {
      if (m?.t !== 'prep') return;
      this.prepare(m.req).then(
        (audio) =>
          port.postMessage({
            t: 'done',
            id: m.id,
            pcm: audio.pcm,
            sampleRate: audio.sampleRate,
          } satisfies PrepServerMessage),
        (err: unknown) =>
          port.postMessage({ t: 'fail', id: m.id, err: serializeError(err) } satisfies PrepServerMessage),
      );
    });
    port.on('close', () => this.#ports.delete(port));
  }

  #run(req: PrepRequest): Promise<DecodedAudio> {
    const thread = this.#pick();
    if (thread === undefined)
      return Promise.reject(new ValidationError('PREP_UNAVAILABLE', 'no audio prep thread is running'));
    const id = this.#nextId++;
    if (thread.busy++ === 0) thread.worker.ref();
    return new Promise<DecodedAudio>((resolve, reject) => {
      this.#jobs.set(id, { thread, resolve, reject });
      thread.worker.postMessage({ t: 'job', id, req } satisfies ThreadJob);
    });
  }

  /** The live thread with the fewest jobs; a dead one is replaced first. */
  #pick(): Thread | undefined {
    for (let i = this.#threads.length - 1; i >= 0; i--) {
      if (this.#threads[i]!.dead && !this.#closed) {
        this.#threads.splice(i, 1);
        void this.#spawn();
      }
    }
    let best: Thread | undefined;
    for (const t of this.#threads) if (!t.dead && (best === undefined || t.busy < best.busy)) best = t;
    return best;
  }

  #onReply(m: Exclude<ThreadReply, { t: 'ready' }>): void {
    const job = this.#jobs.get(m.id);
    if (job === undefined) return;
    this.#jobs.delete(m.id);
    if (--job.thread.busy === 0 && !job.thread.dead) job.thread.worker.unref();
    if (m.t === 'done') job.resolve({ pcm: m.pcm, sampleRate: m.sampleRate });
    else job.reject(deserializeError(m.err));
  }

  #kill(thread: Thread, err: Error): void {
    if (thread.dead) return;
    thread.dead = true;
    for (const [id, job] of this.#jobs) {
      if (job.thread !== thread) continue;
      this.#jobs.delete(id);
      job.reject(new ValidationError('PREP_FAILED', `audio preparation failed: ${err.message}`));
    }
  }

  stats(): AudioPrepStats {
    return { ...this.cache.stats(), threads: this.#threads.filter((t) => !t.dead).length, jobs: this.#jobs.size };
  }

  /** Stops the threads (jobs in flight fail) and the ports. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const port of this.#ports) port.close();
    this.#ports.clear();
    for (const t of this.#threads) {
      this.#kill(t, new Error('audio prep pool closed'));
      void t.worker.terminate();
    }
  }
}
