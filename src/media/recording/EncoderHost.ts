import { EncoderSession, type EncoderSessionConfig, type EncoderSessionResult } from './EncoderSession.ts';

/** The side of a compressed-recording writer that receives its chunks back and hears errors. */
export interface EncoderClient {
  /** A chunk given to `data()` is free again; it may be a new view over the same memory. */
  onFree(chunk: Int16Array): void;
  /** The session failed (encoder or I/O); later chunks are returned unencoded. */
  onError(err: Error): void;
}

/**
 * Where MP3/Opus encoding and file writes happen, away from the media clock: `EncoderPool` (worker
 * threads, the default) or `InlineEncoderHost` (setImmediate slices on the calling thread).
 * `data()` hands a chunk over until `client.onFree()` gives it back; chunks are encoded in order.
 */
export interface EncoderHost {
  open(cfg: EncoderSessionConfig, client: EncoderClient): Promise<number>;
  data(id: number, chunk: Int16Array, length: number): void;
  /** Encode what is queued and write it out; resolves once it is on disk. */
  flush(id: number): Promise<void>;
  /** Encode what is queued, finalise the file, end the session. */
  finish(id: number): Promise<EncoderSessionResult>;
}

interface InlineEntry {
  session: EncoderSession | null;
  client: EncoderClient;
  chunks: Int16Array[];
  lengths: number[];
  /** Interleaved samples of chunks[0] already encoded. */
  pos: number;
  /** Resolved when `chunks` empties (flush/finish wait on it). */
  drained: Array<() => void>;
}

/**
 * Encodes on the calling thread in slices of one 20 ms frame, yielding with setImmediate after
 * `budgetMs` of work so timers (the media clock) run between slices. Costs the media thread the
 * full encoding CPU; use it where worker threads are unwanted, or to compare in benchmarks.
 */
export class InlineEncoderHost implements EncoderHost {
  readonly #entries = new Map<number, InlineEntry>();
  readonly #budgetMs: number;
  #nextId = 1;
  #scheduled = false;
  readonly #run = (): void => this.#slice();

  constructor(o: { budgetMs?: number } = {}) {
    this.#budgetMs = o.budgetMs ?? 2;
  }

  async open(cfg: EncoderSessionConfig, client: EncoderClient): Promise<number> {
    const id = this.#nextId++;
    const entry: InlineEntry = { session: null, client, chunks: [], lengths: [], pos: 0, drained: [] };
    entry.session = await EncoderSession.open(cfg, (err) => client.onError(err));
    this.#entries.set(id, entry);
    return id;
  }

  data(id: number, chunk: Int16Array, length: number): void {
    const e = this.#entries.get(id);
    if (e === undefined) return; // closed: the chunk is simply not returned
    e.chunks.push(chunk);
    e.lengths.push(length);
    this.#schedule();
  }

  async flush(id: number): Promise<void> {
    const e = this.#entries.get(id);
    if (e === undefined) throw new Error(`no encoder session ${id}`);
    await this.#drained(e);
    await e.session!.flush();
  }

  async finish(id: number): Promise<EncoderSessionResult> {
    const e = this.#entries.get(id);
    if (e === undefined) throw new Error(`no encoder session ${id}`);
    await this.#drained(e);
    this.#entries.delete(id);
    return e.session!.close();
  }

  async #drained(e: InlineEntry): Promise<void> {
    if (e.chunks.length > 0) await new Promise<void>((resolve) => e.drained.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  #slice(): void {
    this.#scheduled = false;
    const start = performance.now();
    let more = true;
    while (more && performance.now() - start < this.#budgetMs) {
      more = false;
      // Round-robin one frame per session so one long backlog does not starve the others.
      for (const e of this.#entries.values()) {
        const chunk = e.chunks[0];
        if (chunk === undefined) continue;
        const len = e.lengths[0]!;
        const frame = (e.session!.config.sampleRate / 50) * e.session!.config.channels;
        const n = Math.min(frame, len - e.pos);
        e.session!.encode(chunk, e.pos, n);
        e.pos += n;
        if (e.pos >= len) {
          e.chunks.shift();
          e.lengths.shift();
          e.pos = 0;
          e.client.onFree(chunk);
          if (e.chunks.length === 0) for (const wake of e.drained.splice(0)) wake();
        }
        if (e.chunks.length > 0) more = true;
      }
    }
    if (more) this.#schedule();
  }
}
