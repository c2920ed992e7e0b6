import type { FileHandle } from 'node:fs/promises';
import { InvalidStateError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import { openNoFollow, type OpenMode } from '../../common/safePath.ts';
import { Mp3StreamEncoder, parseMp3FrameHeader } from './Mp3StreamEncoder.ts';
import { OggOpusEncoder } from './OggOpusEncoder.ts';
import type { IfExists } from './RecordingWriter.ts';

/** Plain data (crosses postMessage) describing one compressed recording. */
export interface EncoderSessionConfig {
  path: string;
  format: 'mp3' | 'opus';
  sampleRate: number;
  channels: number;
  ifExists: IfExists;
  /** bit/s; defaults per format and rate. */
  bitrate?: number;
  /** Opus: audio per Ogg page. MP3: audio between file writes. Default 1000 ms. */
  flushMs?: number;
  /** Opus user comments ('KEY=value'). */
  comments?: string[];
}

export interface EncoderSessionResult {
  bytes: number;
  /** Samples per channel encoded. */
  samples: number;
}

/**
 * Encoder plus file for one MP3 or Ogg Opus recording. It runs where encoding is allowed to take
 * time (an encoder worker thread, or setImmediate slices): `encode()` is synchronous CPU work,
 * file writes are async, in order, one in flight, flushed every `flushMs` of audio so a crash
 * leaves a decodable prefix.
 */
export class EncoderSession {
  readonly config: EncoderSessionConfig;
  readonly #fh: FileHandle;
  readonly #mp3: Mp3StreamEncoder | null;
  readonly #opus: OggOpusEncoder | null;
  readonly #flushSamples: number;
  #out: Uint8Array[] = [];
  #sinceFlush = 0;
  #samples = 0;
  #fileBytes: number;
  #queue: Uint8Array[] = [];
  #pump: Promise<void> | null = null;
  #error: Error | null = null;
  #closed: Promise<EncoderSessionResult> | null = null;

  readonly #onError: ((err: Error) => void) | undefined;

  private constructor(cfg: EncoderSessionConfig, fh: FileHandle, fileBytes: number, onError?: (err: Error) => void) {
    this.config = cfg;
    this.#onError = onError;
    this.#fh = fh;
    this.#fileBytes = fileBytes;
    this.#flushSamples = Math.round((cfg.sampleRate * (cfg.flushMs ?? 1000)) / 1000);
    if (cfg.format === 'mp3') {
      this.#mp3 = new Mp3StreamEncoder({
        sampleRate: cfg.sampleRate,
        channels: cfg.channels,
        ...(cfg.bitrate !== undefined ? { kbps: Math.round(cfg.bitrate / 1000) } : {}),
      });
      this.#opus = null;
    } else {
      this.#mp3 = null;
      this.#opus = new OggOpusEncoder({
        sampleRate: cfg.sampleRate,
        channels: cfg.channels,
        pageMs: cfg.flushMs ?? 1000,
        ...(cfg.bitrate !== undefined ? { bitrate: cfg.bitrate } : {}),
        ...(cfg.comments !== undefined ? { comments: cfg.comments } : {}),
      });
      this.#opus.headers(this.#out);
      this.#flushOut();
    }
  }

  /** `onError` hears the first encoder or I/O error (the session then drops further audio). */
  static async open(cfg: EncoderSessionConfig, onError?: (err: Error) => void): Promise<EncoderSession> {
    if (cfg.format !== 'mp3' && cfg.format !== 'opus') {
      throw new UnsupportedError('UNSUPPORTED_FORMAT', `encoder format ${String(cfg.format)}`);
    }
    let mode: OpenMode = cfg.ifExists === 'overwrite' ? 'overwrite' : 'create';
    let fileBytes = 0;
    if (cfg.ifExists === 'append') {
      // Ogg Opus could chain a second logical stream, but players and ffprobe report chained
      // files poorly; refuse rather than write something half-supported.
      if (cfg.format === 'opus')
        throw new UnsupportedError('APPEND_UNSUPPORTED', 'append is not supported for Ogg Opus recordings');
      fileBytes = await checkMp3Append(cfg);
      mode = 'append';
    }
    let fh: FileHandle;
    try {
      fh = await openNoFollow(cfg.path, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new InvalidStateError('RECORDING_EXISTS', `recording file already exists: ${cfg.path}`);
      }
      throw err;
    }
    try {
      return new EncoderSession(cfg, fh, fileBytes, onError);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  get error(): Error | null {
    return this.#error;
  }

  /** Encode `length` interleaved samples from `pcm[offset]`. Never throws: errors go to onError. */
  encode(pcm: Int16Array, offset: number, length: number): void {
    if (this.#error !== null || this.#closed !== null) return;
    try {
      if (this.#mp3 !== null) this.#mp3.encode(pcm, offset, length, this.#out);
      else this.#opus!.encode(pcm, offset, length, this.#out);
      const perChannel = length / this.config.channels;
      this.#samples += perChannel;
      this.#sinceFlush += perChannel;
      // Ogg pages are complete units already; MP3 frames are gathered to one write per flushMs.
      if (this.#opus !== null || this.#sinceFlush >= this.#flushSamples) this.#flushOut();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Write out everything encoded so far (a short Ogg page for Opus); resolves once on disk. */
  async flush(): Promise<void> {
    if (this.#error === null && this.#closed === null) {
      try {
        this.#opus?.flush(this.#out);
        this.#flushOut();
      } catch (err) {
        this.#fail(err);
      }
    }
    while (this.#pump !== null) await this.#pump;
  }

  close(): Promise<EncoderSessionResult> {
    if (this.#closed === null) this.#closed = this.#finish();
    return this.#closed;
  }

  async #finish(): Promise<EncoderSessionResult> {
    try {
      if (this.#error === null) {
        if (this.#mp3 !== null) this.#mp3.finish(this.#out);
        else this.#opus!.finish(this.#out);
        this.#flushOut();
      }
    } catch (err) {
      this.#fail(err);
    }
    this.#opus?.close();
    while (this.#pump !== null) await this.#pump;
    try {
      if (this.#error === null) await this.#fh.datasync();
    } catch (err) {
      this.#fail(err);
    }
    await this.#fh.close().catch((err: unknown) => this.#fail(err));
    if (this.#error !== null) throw this.#error;
    return { bytes: this.#fileBytes, samples: this.#samples };
  }

  #flushOut(): void {
    this.#sinceFlush = 0;
    if (this.#out.length === 0) return;
    let buf: Uint8Array;
    if (this.#out.length === 1) buf = this.#out[0]!;
    else buf = Buffer.concat(this.#out);
    this.#out = [];
    this.#queue.push(buf);
    // Never start a pump that would finish synchronously (its promise would outlive it).
    if (this.#pump === null && this.#error === null) this.#pump = this.#run();
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0 && this.#error === null) {
        const buf = this.#queue.shift()!;
        let off = 0;
        while (off < buf.length) {
          const { bytesWritten } = await this.#fh.write(buf, off, buf.length - off, null);
          if (bytesWritten <= 0) throw new Error('short write');
          off += bytesWritten;
        }
        this.#fileBytes += buf.length;
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#pump = null;
    }
  }

  #fail(err: unknown): void {
    this.#queue = [];
    if (this.#error !== null) return;
    this.#error = err instanceof Error ? err : new Error(String(err));
    try {
      this.#onError?.(this.#error);
    } catch {
      // a throwing listener must not break the encoder
    }
  }
}

/** Existing MP3 must have the same rate and channel count; concatenated frames then play on. */
async function checkMp3Append(cfg: EncoderSessionConfig): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await openNoFollow(cfg.path, 'read');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) return 0;
    const head = new Uint8Array(Math.min(size, 8192));
    await fh.read(head, 0, head.length, 0);
    const h = parseMp3FrameHeader(head);
    if (h === null) throw new ValidationError('MP3_INCOMPATIBLE', `cannot append: no MPEG audio frame in ${cfg.path}`);
    if (h.sampleRate !== cfg.sampleRate || h.channels !== cfg.channels) {
      throw new ValidationError(
        'MP3_INCOMPATIBLE',
        `cannot append ${cfg.sampleRate} Hz/${cfg.channels} ch to ${cfg.path} (${h.sampleRate} Hz/${h.channels} ch)`,
      );
    }
    return size;
  } finally {
    await fh.close();
  }
}
