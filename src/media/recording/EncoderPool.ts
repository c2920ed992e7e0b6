import type { Worker } from 'node:worker_threads';
import { deserializeError, type SerializedError } from '../../common/errors.ts';
import { startThread } from '../../common/startThread.ts';
import type { EncoderClient, EncoderHost } from './EncoderHost.ts';
import type { EncoderSessionConfig, EncoderSessionResult } from './EncoderSession.ts';

/** Messages to the encoder worker. */
export type PoolRequest =
  | { t: 'open'; id: number; cfg: EncoderSessionConfig }
  | { t: 'data'; id: number; buf: ArrayBuffer; len: number }
  | { t: 'flush'; id: number }
  | { t: 'close'; id: number }
  /** Load and run each encoder once (lamejs, the Opus WASM) so the first recording starts warm. */
  | { t: 'warm'; id: 0 };

/** Messages from the encoder worker. */
export type PoolReply =
  | { t: 'opened'; id: number }
  | { t: 'open_failed'; id: number; err: SerializedError }
  | { t: 'free'; id: number; buf: ArrayBuffer }
  | { t: 'error'; id: number; err: SerializedError }
  | { t: 'flushed'; id: number }
  | { t: 'closed'; id: number; result: EncoderSessionResult }
  | { t: 'close_failed'; id: number; err: SerializedError }
  | { t: 'warmed'; id: 0 };

interface Slot {
  worker: Worker;
  sessions: number;
  dead: boolean;
  /** Resolved once the thread has warmed its encoders (or died). */
  warmed: Promise<void>;
}

interface Session {
  slot: Slot;
  client: EncoderClient;
  opened: { resolve: (id: number) => void; reject: (err: Error) => void } | null;
  closed: { resolve: (r: EncoderSessionResult) => void; reject: (err: Error) => void } | null;
  /** Flushes in flight, answered in order. */
  flushes: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

/**
 * A few encoder worker threads shared by all MP3/Opus recordings of this (media worker) thread.
 *
 * Why a shared pool rather than a thread per writer: a worker costs ~30-50 ms to start and several
 * MiB (its own V8 heap, lamejs, the Opus WASM instance); recordings start on the call path and
 * there may be hundreds. Encoding one 8 kHz recording takes ~2-3 % of a core, so one thread
 * carries dozens; `threads` raises it. A session stays on one thread, so its chunks are encoded
 * and written in order. Threads are unref'd while they carry no session.
 */
export class EncoderPool implements EncoderHost {
  static #shared: EncoderPool | null = null;

  /** The pool used when a writer names none; created on first use. */
  static shared(): EncoderPool {
    if (EncoderPool.#shared === null || EncoderPool.#shared.#closed) EncoderPool.#shared = new EncoderPool();
    return EncoderPool.#shared;
  }

  readonly #threads: number;
  readonly #slots: Slot[] = [];
  readonly #sessions = new Map<number, Session>();
  #nextId = 1;
  #closed = false;

  constructor(o: { threads?: number } = {}) {
    this.#threads = Math.max(1, o.threads ?? 1);
  }

  /**
   * Start every thread now and have each load and run its encoders once (module load, the Opus
   * WASM compile: seconds on a cold process), so the first recording opens as fast as later ones.
   * Resolves when all are warm. Media workers call it at start-up.
   */
  warm(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    while (this.#slots.filter((s) => !s.dead).length < this.#threads) this.#spawn();
    return Promise.all(this.#slots.map((s) => s.warmed)).then(() => undefined);
  }

  get threads(): number {
    return this.#slots.filter((s) => !s.dead).length;
  }

  open(cfg: EncoderSessionConfig, client: EncoderClient): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('EncoderPool is closed'));
    const slot = this.#pick();
    const id = this.#nextId++;
    const s: Session = { slot, client, opened: null, closed: null, flushes: [] };
    this.#sessions.set(id, s);
    if (slot.sessions++ === 0) slot.worker.ref();
    return new Promise<number>((resolve, reject) => {
      s.opened = { resolve, reject };
      this.#post(slot, { t: 'open', id, cfg });
    });
  }

  data(id: number, chunk: Int16Array, length: number): void {
    const s = this.#sessions.get(id);
    if (s === undefined || s.slot.dead) return;
    const buf = chunk.buffer as ArrayBuffer;
    s.slot.worker.postMessage({ t: 'data', id, buf, len: length } satisfies PoolRequest, [buf]);
  }

  flush(id: number): Promise<void> {
    const s = this.#sessions.get(id);
    if (s === undefined || s.slot.dead) return Promise.reject(new Error(`no encoder session ${id}`));
    return new Promise<void>((resolve, reject) => {
      s.flushes.push({ resolve, reject });
      this.#post(s.slot, { t: 'flush', id });
    });
  }

  finish(id: number): Promise<EncoderSessionResult> {
    const s = this.#sessions.get(id);
    if (s === undefined) return Promise.reject(new Error(`no encoder session ${id}`));
    if (s.closed !== null) return Promise.reject(new Error(`encoder session ${id} already closing`));
    return new Promise<EncoderSessionResult>((resolve, reject) => {
      s.closed = { resolve, reject };
      if (s.slot.dead) this.#end(id, s, new Error('encoder worker exited'));
      else this.#post(s.slot, { t: 'close', id });
    });
  }

  /** Stop the threads; sessions still open fail. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const slots = this.#slots.splice(0);
    for (const slot of slots) this.#kill(slot, new Error('EncoderPool closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #pick(): Slot {
    for (let i = this.#slots.length - 1; i >= 0; i--) if (this.#slots[i]!.dead) this.#slots.splice(i, 1);
    if (this.#slots.length < this.#threads) return this.#spawn();
    let best = this.#slots[0]!;
    for (const s of this.#slots) if (s.sessions < best.sessions) best = s;
    return best;
  }

  #spawn(): Slot {
    const worker = startThread(new URL('./encoderWorker.ts', import.meta.url));
    let warmedNow = (): void => undefined;
    const slot: Slot = { worker, sessions: 0, dead: false, warmed: new Promise<void>((r) => (warmedNow = r)) };
    worker.unref();
    worker.on('message', (m: PoolReply) => (m.t === 'warmed' ? warmedNow() : this.#onReply(m)));
    const die = (err: Error): void => {
      warmedNow();
      this.#kill(slot, err);
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`encoder worker exited with code ${code}`)));
    this.#post(slot, { t: 'warm', id: 0 });
    this.#slots.push(slot);
    return slot;
  }

  #post(slot: Slot, msg: PoolRequest): void {
    slot.worker.postMessage(msg);
  }

  #onReply(m: Exclude<PoolReply, { t: 'warmed' }>): void {
    const s = this.#sessions.get(m.id);
    if (s === undefined) return;
    switch (m.t) {
      case 'opened':
        s.opened?.resolve(m.id);
        s.opened = null;
        break;
      case 'open_failed':
        this.#end(m.id, s, deserializeError(m.err));
        break;
      case 'free':
        s.client.onFree(new Int16Array(m.buf));
        break;
      case 'error':
        s.client.onError(deserializeError(m.err));
        break;
      case 'flushed':
        s.flushes.shift()?.resolve();
        break;
      case 'closed':
        s.closed?.resolve(m.result);
        s.closed = null;
        this.#end(m.id, s, null);
        break;
      case 'close_failed':
        this.#end(m.id, s, deserializeError(m.err));
        break;
    }
  }

  /** Forget a session; settle whatever waits on it. */
  #end(id: number, s: Session, err: Error | null): void {
    if (!this.#sessions.delete(id)) return;
    if (err !== null) {
      s.opened?.reject(err);
      s.closed?.reject(err);
    }
    for (const f of s.flushes.splice(0)) f.reject(err ?? new Error('encoder session ended'));
    s.opened = null;
    s.closed = null;
    if (--s.slot.sessions === 0 && !s.slot.dead) s.slot.worker.unref();
  }

  #kill(slot: Slot, err: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    for (const [id, s] of this.#sessions) {
      if (s.slot !== slot) continue;
      if (s.opened === null && s.closed === null) s.client.onError(err);
      this.#end(id, s, err);
    }
  }
}
