import { InlineEncoderHost, type EncoderClient, type EncoderHost } from './EncoderHost.ts';
import { EncoderPool } from './EncoderPool.ts';
import type { EncoderSessionConfig } from './EncoderSession.ts';
import {
  checkWriterOptions,
  copyFrame,
  frameLength,
  type IfExists,
  type RecordingResult,
  type RecordingWriter,
  type RecordingWriterStats,
} from './RecordingWriter.ts';

export interface EncodedWriterOptions {
  path: string;
  sampleRate: number;
  channels: number;
  /** 'fail' (default) | 'overwrite' | 'append' (MP3 only: frames are concatenated). */
  ifExists?: IfExists;
  onError?: (err: Error) => void;
  /** bit/s for all channels; format defaults suit speech. */
  bitrate?: number;
  /** Audio between file writes (Ogg page length); a crash loses at most this. Default 1000 ms. */
  flushMs?: number;
  /** Audio per chunk handed to the encoder (default 200 ms). */
  chunkMs?: number;
  /** Chunks the encoder may hold (queued or being encoded) before frames are dropped and
   * counted; also the most chunk memory the writer holds. Default 16. */
  maxQueuedChunks?: number;
  /** Where encoding runs: the shared worker pool (default), 'inline' slices, or a given host. */
  encoder?: 'thread' | 'inline' | EncoderHost;
  /** Ogg Opus user comments, 'KEY=value'. */
  comments?: string[];
}

const OPEN = 0;
const CLOSING = 1;
const FAILED = 2;

let sharedInline: InlineEncoderHost | null = null;

function hostFor(e: EncodedWriterOptions['encoder']): EncoderHost {
  if (e === undefined || e === 'thread') return EncoderPool.shared();
  if (e === 'inline') return (sharedInline ??= new InlineEncoderHost());
  return e;
}

/**
 * Base of Mp3Writer and OggOpusWriter: the media-clock side. `write()` copies frames into
 * preallocated chunks (`chunkMs` each); a full chunk goes to the encoder host, which encodes and
 * writes the file off the clock and returns the chunk for reuse. At most `maxQueuedChunks`
 * chunks exist; when all are out (encoder far behind) frames are dropped and counted.
 */
export class EncodedFileWriter implements RecordingWriter, EncoderClient {
  readonly path: string;
  readonly format: 'mp3' | 'opus';
  readonly sampleRate: number;
  readonly channels: number;
  readonly stats: RecordingWriterStats = { samples: 0, droppedFrames: 0, queuedChunks: 0, queueHighWater: 0 };

  readonly #host: EncoderHost;
  #id = 0;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #chunkSamples: number;
  readonly #maxChunks: number;
  #allocated = 0;
  readonly #free: Int16Array[] = [];
  #cur: Int16Array | null = null;
  #curLen = 0;
  #state = OPEN;
  #error: Error | null = null;
  #closing: Promise<RecordingResult> | null = null;

  protected constructor(format: 'mp3' | 'opus', o: EncodedWriterOptions, host: EncoderHost) {
    this.format = format;
    this.path = o.path;
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.#host = host;
    this.#onError = o.onError;
    this.#chunkSamples = Math.max(1, Math.round((o.sampleRate * (o.chunkMs ?? 200)) / 1000)) * o.channels;
    this.#maxChunks = Math.max(2, o.maxQueuedChunks ?? 16);
    for (let i = 0; i < 2; i++) this.#free.push(this.#alloc());
  }

  /** Check options, open the session on its host (file created there), return the writer. */
  protected static async openAs<W extends EncodedFileWriter>(
    format: 'mp3' | 'opus',
    o: EncodedWriterOptions,
    make: (host: EncoderHost) => W,
  ): Promise<W> {
    checkWriterOptions(o);
    const host = hostFor(o.encoder);
    const w = make(host);
    const cfg: EncoderSessionConfig = {
      path: o.path,
      format,
      sampleRate: o.sampleRate,
      channels: o.channels,
      ifExists: o.ifExists ?? 'fail',
      ...(o.bitrate !== undefined ? { bitrate: o.bitrate } : {}),
      ...(o.flushMs !== undefined ? { flushMs: o.flushMs } : {}),
      ...(o.comments !== undefined ? { comments: o.comments } : {}),
    };
    w.#id = await host.open(cfg, w);
    return w;
  }

  get error(): Error | null {
    return this.#error;
  }

  write(pcm: Int16Array | readonly Int16Array[]): void {
    const total = frameLength(pcm, this.channels);
    if (this.#state !== OPEN || total === 0) {
      if (total !== 0) this.stats.droppedFrames++;
      return;
    }
    const room = this.#cur === null ? 0 : this.#chunkSamples - this.#curLen;
    if (total > room) {
      const need = Math.ceil((total - room) / this.#chunkSamples);
      if (need > this.#free.length + (this.#maxChunks - this.#allocated)) {
        this.stats.droppedFrames++;
        return;
      }
    }
    this.stats.samples += total / this.channels;
    let done = 0;
    while (done < total) {
      if (this.#cur === null) {
        this.#cur = this.#free.pop() ?? this.#alloc();
        this.#curLen = 0;
      }
      const n = copyFrame(pcm, this.channels, done, this.#cur, this.#curLen, this.#chunkSamples - this.#curLen);
      done += n;
      this.#curLen += n;
      if (this.#curLen === this.#chunkSamples) this.#send();
    }
  }

  /**
   * Hand over the partly filled chunk and have everything so far encoded and written (Opus: a
   * short page). Resolves once it is on disk; a checkpoint, not needed for normal operation.
   */
  async flush(): Promise<void> {
    if (this.#state !== OPEN) return;
    if (this.#cur !== null && this.#curLen > 0) this.#send();
    await this.#host.flush(this.#id);
  }

  close(): Promise<RecordingResult> {
    if (this.#closing === null) this.#closing = this.#finish();
    return this.#closing;
  }

  /** EncoderClient: a chunk came back from the encoder. */
  onFree(chunk: Int16Array): void {
    this.stats.queuedChunks--;
    if (chunk.length === this.#chunkSamples) this.#free.push(chunk);
    else this.#allocated--;
  }

  /** EncoderClient: the encoder or the file failed; stop accepting audio. */
  onError(err: Error): void {
    if (this.#error !== null) return;
    this.#error = err;
    this.#state = FAILED;
    try {
      this.#onError?.(err);
    } catch {
      // a throwing listener must not break the writer
    }
  }

  async #finish(): Promise<RecordingResult> {
    if (this.#cur !== null && this.#curLen > 0 && this.#state === OPEN) this.#send();
    if (this.#state === OPEN) this.#state = CLOSING;
    let bytes = 0;
    try {
      bytes = (await this.#host.finish(this.#id)).bytes;
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.#error !== null) throw this.#error;
    return {
      path: this.path,
      format: this.format,
      bytes,
      durationMs: (this.stats.samples / this.sampleRate) * 1000,
      droppedFrames: this.stats.droppedFrames,
    };
  }

  #alloc(): Int16Array {
    this.#allocated++;
    return new Int16Array(this.#chunkSamples);
  }

  #send(): void {
    const c = this.#cur!;
    this.#host.data(this.#id, c, this.#curLen);
    this.#cur = null;
    this.#curLen = 0;
    if (++this.stats.queuedChunks > this.stats.queueHighWater) this.stats.queueHighWater = this.stats.queuedChunks;
  }
}
