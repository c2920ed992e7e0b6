import type { FileHandle } from 'node:fs/promises';
import { InvalidStateError, ValidationError } from '../../common/errors.ts';
import { fsError, openNoFollow, type OpenMode } from '../../common/safePath.ts';
import {
  checkWriterOptions,
  copyFrame,
  frameLength,
  type IfExists,
  type RecordingResult,
  type RecordingWriter,
  type RecordingWriterStats,
} from './RecordingWriter.ts';
import { parseWavHeader, WAV_HEADER_BYTES, WAV_MAX_DATA_BYTES, WAVE_FORMAT_PCM, writeWavHeader } from './wav.ts';

export interface WavFileWriterOptions {
  path: string;
  sampleRate: number;
  channels: number;
  ifExists?: IfExists;
  onError?: (err: Error) => void;
  /** Audio per chunk: a chunk is written (and the header sizes updated) each time one fills. */
  flushIntervalMs?: number;
  /** Chunks that may be queued for the disk (including the one being written) before frames
   * are dropped and counted; also the most chunk memory the writer ever holds. Default 8. */
  maxQueuedChunks?: number;
  /** Opens the file (tests inject I/O faults here); default `openNoFollow()`. */
  openFile?: (path: string, mode: OpenMode) => Promise<FileHandle>;
}

const OPEN = 0;
const CLOSING = 1;
const FAILED = 2;

interface FlushWaiter {
  target: number;
  resolve: () => void;
}

/**
 * RIFF WAVE PCM16 file written from the media clock without waiting on the disk.
 *
 * `write()` copies the frame into a preallocated chunk; a full chunk joins a bounded queue that
 * one async pump writes with positional FileHandle writes, one at a time, in order. After every
 * chunk the pump rewrites the data and RIFF sizes, so a process killed at any instant leaves a
 * header that never claims more than what is on disk: the file plays up to the last flush.
 */
export class WavFileWriter implements RecordingWriter {
  readonly path: string;
  readonly format = 'wav' as const;
  readonly sampleRate: number;
  readonly channels: number;
  readonly stats: RecordingWriterStats = { samples: 0, droppedFrames: 0, queuedChunks: 0, queueHighWater: 0 };

  readonly #fh: FileHandle;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #dataOffset: number;
  readonly #dataSizeOffset: number;
  readonly #chunkSamples: number;
  readonly #maxChunks: number;
  // Chunk pool: grown lazily up to maxQueuedChunks, then reused forever.
  readonly #chunks: Int16Array[] = [];
  readonly #chunkBytes: Uint8Array[] = [];
  readonly #chunkLen: Int32Array;
  readonly #free: Int32Array;
  #freeCount = 0;
  // Ring of chunk indices waiting for the pump.
  readonly #queue: Int32Array;
  #qHead = 0;
  #qCount = 0;
  #cur = -1;
  #curLen = 0;
  /** Bytes of sample data on disk and counted in the header. */
  #dataBytes: number;
  /** Data bytes the file had when opened (append). */
  readonly #initialDataBytes: number;
  /** Bytes accepted (on disk + queued + current chunk), to respect the 4 GiB RIFF limit. */
  #acceptedBytes: number;
  readonly #sizeBuf = new Uint8Array(8);
  readonly #sizeView = new DataView(this.#sizeBuf.buffer);
  #pumping: Promise<void> | null = null;
  #enqueued = 0;
  #written = 0;
  #waiters: FlushWaiter[] = [];
  #state = OPEN;
  #error: Error | null = null;
  #closing: Promise<RecordingResult> | null = null;

  private constructor(
    fh: FileHandle,
    o: WavFileWriterOptions,
    dataOffset: number,
    dataSizeOffset: number,
    dataBytes: number,
  ) {
    this.#fh = fh;
    this.path = o.path;
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.#onError = o.onError;
    this.#dataOffset = dataOffset;
    this.#dataSizeOffset = dataSizeOffset;
    this.#dataBytes = dataBytes;
    this.#initialDataBytes = dataBytes;
    this.#acceptedBytes = dataBytes;
    const ms = o.flushIntervalMs ?? 500;
    this.#chunkSamples = Math.max(1, Math.round((o.sampleRate * ms) / 1000)) * o.channels;
    this.#maxChunks = Math.max(2, o.maxQueuedChunks ?? 8);
    this.#chunkLen = new Int32Array(this.#maxChunks);
    this.#free = new Int32Array(this.#maxChunks);
    this.#queue = new Int32Array(this.#maxChunks);
    for (let i = 0; i < 2; i++) this.#growChunk();
  }

  /**
   * Open (or create) the file and write or check its header. `ifExists`: 'fail' (default) refuses
   * an existing file, 'overwrite' truncates it, 'append' continues an existing PCM16 WAV with the
   * same rate and channels, repairing sizes left short by a crash.
   */
  static async open(o: WavFileWriterOptions): Promise<WavFileWriter> {
    checkWriterOptions(o);
    const ifExists = o.ifExists ?? 'fail';
    if (ifExists === 'append') {
      let fh: FileHandle | null = null;
      try {
        fh = await (o.openFile ?? openNoFollow)(o.path, 'update');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (fh !== null) return WavFileWriter.#continue(fh, o);
    }
    let fh: FileHandle;
    try {
      // Never through a final symlink; 'fail' creates a new file only (O_EXCL).
      fh = await (o.openFile ?? openNoFollow)(o.path, ifExists === 'overwrite' ? 'overwrite' : 'create');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new InvalidStateError('RECORDING_EXISTS', `recording file already exists: ${o.path}`);
      }
      throw err;
    }
    try {
      const header = new Uint8Array(WAV_HEADER_BYTES);
      writeWavHeader(header, o.sampleRate, o.channels, 0);
      await writeFully(fh, header, WAV_HEADER_BYTES, 0);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw fsError(err, o.path);
    }
    return new WavFileWriter(fh, o, WAV_HEADER_BYTES, 40, 0);
  }

  static async #continue(fh: FileHandle, o: WavFileWriterOptions): Promise<WavFileWriter> {
    try {
      const size = (await fh.stat()).size;
      if (size === 0) {
        const header = new Uint8Array(WAV_HEADER_BYTES);
        writeWavHeader(header, o.sampleRate, o.channels, 0);
        await writeFully(fh, header, WAV_HEADER_BYTES, 0);
        return new WavFileWriter(fh, o, WAV_HEADER_BYTES, 40, 0);
      }
      const head = new Uint8Array(Math.min(size, 4096));
      await fh.read(head, 0, head.length, 0);
      const info = parseWavHeader(head);
      if (info.format !== WAVE_FORMAT_PCM || info.bitsPerSample !== 16) {
        throw new ValidationError(
          'WAV_INCOMPATIBLE',
          `cannot append: ${o.path} is not PCM16 (format ${info.format}, ${info.bitsPerSample} bits)`,
        );
      }
      if (info.sampleRate !== o.sampleRate || info.channels !== o.channels) {
        throw new ValidationError(
          'WAV_INCOMPATIBLE',
          `cannot append ${o.sampleRate} Hz/${o.channels} ch to ${o.path} (${info.sampleRate} Hz/${info.channels} ch)`,
        );
      }
      const blockAlign = 2 * o.channels;
      const onDisk = Math.max(0, size - info.dataOffset);
      let data = onDisk;
      const declared = info.declaredDataBytes;
      if (declared !== 0 && declared !== 0xffffffff && declared < onDisk) {
        // Bytes beyond the declared data: either audio flushed just before a crash (keep it) or
        // a chunk after data (LIST, id3) that appending would corrupt (refuse).
        const next = info.dataOffset + declared + (declared & 1);
        if (next + 8 <= size) {
          const probe = new Uint8Array(8);
          await fh.read(probe, 0, 8, next);
          const isChunk = probe.subarray(0, 4).every((b) => b >= 0x20 && b <= 0x7e);
          const chunkSize = new DataView(probe.buffer).getUint32(4, true);
          if (isChunk && next + 8 + chunkSize <= size) {
            throw new ValidationError('WAV_INCOMPATIBLE', `cannot append: ${o.path} has chunks after its data`);
          }
        }
      }
      data -= data % blockAlign;
      // Drop a torn sample at the end, then make the header tell the truth before writing more.
      await fh.truncate(info.dataOffset + data);
      const w = new WavFileWriter(fh, o, info.dataOffset, info.dataSizeOffset, data);
      await w.#writeSizes();
      return w;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
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
    // Refuse the whole frame up front rather than record part of it.
    const room = this.#cur < 0 ? 0 : this.#chunkSamples - this.#curLen;
    if (total > room) {
      const need = Math.ceil((total - room) / this.#chunkSamples);
      if (need > this.#freeCount + (this.#maxChunks - this.#chunks.length)) {
        this.stats.droppedFrames++;
        return;
      }
    }
    if (this.#acceptedBytes + total * 2 > WAV_MAX_DATA_BYTES) {
      this.stats.droppedFrames++;
      this.#fail(new InvalidStateError('RECORDING_TOO_LARGE', `WAV data would exceed 4 GiB: ${this.path}`));
      return;
    }
    this.#acceptedBytes += total * 2;
    this.stats.samples += total / this.channels;
    let done = 0;
    while (done < total) {
      if (this.#cur < 0) {
        this.#cur = this.#takeChunk();
        this.#curLen = 0;
      }
      const n = copyFrame(
        pcm,
        this.channels,
        done,
        this.#chunks[this.#cur]!,
        this.#curLen,
        this.#chunkSamples - this.#curLen,
      );
      done += n;
      this.#curLen += n;
      if (this.#curLen === this.#chunkSamples) this.#enqueueCurrent();
    }
  }

  /** Hand the partly filled chunk to the pump; resolves when everything written so far is on disk. */
  flush(): Promise<void> {
    if (this.#cur >= 0 && this.#curLen > 0) this.#enqueueCurrent();
    if (this.#written >= this.#enqueued || this.#state === FAILED) return Promise.resolve();
    const target = this.#enqueued;
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  /**
   * Flush, finalise and close. After a write error (a full disk) the file is cut back to the
   * last whole chunk and its header made to match, so it stays playable: close() then resolves
   * with what the file holds and `error` tells why it ended; it rejects only when even that
   * repair failed.
   */
  close(): Promise<RecordingResult> {
    if (this.#closing === null) this.#closing = this.#finish();
    return this.#closing;
  }

  async #finish(): Promise<RecordingResult> {
    await this.flush();
    if (this.#state === OPEN) this.#state = CLOSING;
    // After a failure flush() returns at once; let an in-flight write settle before closing.
    if (this.#pumping !== null) await this.#pumping;
    let repairFailed: unknown = null;
    if (this.#error === null) {
      try {
        await this.#fh.datasync();
      } catch (err) {
        this.#fail(err);
      }
    } else {
      // A chunk may have been written in part: drop the torn tail (truncating needs no space)
      // and rewrite the sizes in place, so header and data agree.
      try {
        await this.#fh.truncate(this.#dataOffset + this.#dataBytes);
        await this.#writeSizes();
        await this.#fh.datasync().catch(() => undefined);
      } catch (err) {
        repairFailed = err;
      }
    }
    await this.#fh.close().catch((err: unknown) => {
      repairFailed ??= err;
      this.#fail(err);
    });
    if (this.#error !== null && repairFailed !== null) throw this.#error;
    return {
      path: this.path,
      format: 'wav',
      bytes: this.#dataOffset + this.#dataBytes,
      durationMs: ((this.#dataBytes - this.#initialDataBytes) / (2 * this.channels) / this.sampleRate) * 1000,
      droppedFrames: this.stats.droppedFrames,
    };
  }

  #growChunk(): void {
    const i = this.#chunks.length;
    const c = new Int16Array(this.#chunkSamples);
    this.#chunks.push(c);
    this.#chunkBytes.push(new Uint8Array(c.buffer));
    this.#free[this.#freeCount++] = i;
  }

  #takeChunk(): number {
    if (this.#freeCount === 0) this.#growChunk(); // only while the disk is behind; bounded by #maxChunks
    return this.#free[--this.#freeCount]!;
  }

  #enqueueCurrent(): void {
    const idx = this.#cur;
    this.#chunkLen[idx] = this.#curLen * 2;
    this.#cur = -1;
    this.#curLen = 0;
    this.#queue[(this.#qHead + this.#qCount) % this.#maxChunks] = idx;
    this.#qCount++;
    this.#enqueued++;
    this.stats.queuedChunks = this.#qCount;
    if (this.#qCount > this.stats.queueHighWater) this.stats.queueHighWater = this.#qCount;
    // Never start a pump that would finish synchronously (its promise would outlive it).
    if (this.#pumping === null && this.#state !== FAILED) this.#pumping = this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      while (this.#qCount > 0 && this.#state !== FAILED) {
        const idx = this.#queue[this.#qHead]!;
        const len = this.#chunkLen[idx]!;
        await writeFully(this.#fh, this.#chunkBytes[idx]!, len, this.#dataOffset + this.#dataBytes);
        this.#dataBytes += len;
        await this.#writeSizes();
        this.#qHead = (this.#qHead + 1) % this.#maxChunks;
        this.#qCount--;
        this.stats.queuedChunks = this.#qCount;
        this.#free[this.#freeCount++] = idx;
        this.#written++;
        this.#wake();
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#pumping = null;
    }
  }

  /** Data size first, then RIFF size: a crash between the two leaves both within the file. */
  async #writeSizes(): Promise<void> {
    this.#sizeView.setUint32(0, this.#dataBytes, true);
    this.#sizeView.setUint32(4, this.#dataOffset + this.#dataBytes - 8, true);
    await writeFully(this.#fh, this.#sizeBuf.subarray(0, 4), 4, this.#dataSizeOffset);
    await writeFully(this.#fh, this.#sizeBuf.subarray(4, 8), 4, 4);
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const keep: FlushWaiter[] = [];
    for (const w of this.#waiters) {
      if (this.#written >= w.target || this.#state === FAILED) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  #fail(err: unknown): void {
    if (this.#error !== null) return;
    const e = fsError(err, this.path);
    this.#error = e instanceof Error ? e : new Error(String(e));
    this.#state = FAILED;
    this.#wake();
    try {
      this.#onError?.(this.#error);
    } catch {
      // A throwing listener must not break the pump or the media clock.
    }
  }
}

async function writeFully(fh: FileHandle, buf: Uint8Array, len: number, position: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesWritten } = await fh.write(buf, off, len - off, position + off);
    if (bytesWritten <= 0) throw new Error('short write');
    off += bytesWritten;
  }
}
