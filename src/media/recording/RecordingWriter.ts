import { isAbsolute } from 'node:path';
import { endianness } from 'node:os';
import { UnsupportedError, ValidationError } from '../../common/errors.ts';
import type { IfExists, RecordingFormat } from '../../protocol/recording.ts';

export type { IfExists, RecordingFormat };

/**
 * What a finished recording amounts to. `bytes` is the whole file; `durationMs` is the audio this
 * writer added (with ifExists 'append', not counting what the file held before).
 */
export interface RecordingResult {
  path: string;
  format: RecordingFormat;
  /** Bytes of the file on disk after finalising. */
  bytes: number;
  durationMs: number;
  /** Frames the writer refused because its bounded queue was full (disk or encoder too slow). */
  droppedFrames: number;
}

/** Counters read by metrics; updated in place, never allocated per frame. */
export interface RecordingWriterStats {
  /** Samples per channel accepted so far. */
  samples: number;
  droppedFrames: number;
  /** Chunks handed to the file/encoder and not yet returned. */
  queuedChunks: number;
  /** Highest `queuedChunks` seen. */
  queueHighWater: number;
}

/**
 * A file being recorded. `write()` is called from the 20 ms media clock: it copies the frame into
 * a preallocated chunk and returns; file I/O and encoding happen elsewhere. Errors never throw out
 * of `write()`: they go to `onError` and make `close()` reject.
 */
export interface RecordingWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly sampleRate: number;
  readonly channels: number;
  readonly stats: RecordingWriterStats;
  /** The first error met (I/O, encoder), or null. */
  readonly error: Error | null;
  /**
   * One frame: either planar channels (`[left, right]`, or `[mono]`) of equal length, or one
   * interleaved Int16Array (L R L R ...). Never blocks, never throws.
   */
  write(pcm: Int16Array | readonly Int16Array[]): void;
  /** Flush, finalise headers, close the file. Idempotent: later calls return the same promise. */
  close(): Promise<RecordingResult>;
}

export interface RecordingWriterOptions {
  /** Absolute path, or relative without '..' (resolved by the caller's working directory). */
  path: string;
  format: RecordingFormat;
  sampleRate: number;
  channels: number;
  ifExists?: IfExists;
  /** Called once with the first error; the recording stops accepting audio after it. */
  onError?: (err: Error) => void;
}

export const SUPPORTED_RATES: readonly number[] = [8000, 16000, 48000];

/** Shared option checks, so every writer refuses the same things with the same codes. */
export function checkWriterOptions(o: { path: string; sampleRate: number; channels: number }): void {
  if (typeof o.path !== 'string' || o.path.length === 0) {
    throw new ValidationError('INVALID_PATH', 'recording path is empty');
  }
  if (o.path.includes('\0')) throw new ValidationError('INVALID_PATH', 'recording path contains NUL');
  // Path policy (which directory) is the caller's; we only refuse relative escapes.
  if (!isAbsolute(o.path) && o.path.split(/[\\/]/).includes('..')) {
    throw new ValidationError('INVALID_PATH', `relative recording path must not contain '..': ${o.path}`);
  }
  if (!SUPPORTED_RATES.includes(o.sampleRate)) {
    throw new UnsupportedError('UNSUPPORTED_SAMPLE_RATE', `sample rate ${o.sampleRate} (use 8000, 16000 or 48000)`);
  }
  if (o.channels !== 1 && o.channels !== 2) {
    throw new UnsupportedError('UNSUPPORTED_CHANNELS', `channels ${o.channels} (use 1 or 2)`);
  }
  // Int16Array bytes go to disk as they are; WAV, lame and opusscript input are little-endian.
  if (endianness() !== 'LE') throw new UnsupportedError('UNSUPPORTED_PLATFORM', 'big-endian host');
}

/**
 * Copy one frame (planar or interleaved) into `dst` at `dstOffset` (interleaved samples), at most
 * `max` interleaved samples, starting `skip` interleaved samples into the frame. Returns samples
 * copied. Plain loops: no subarray views, nothing allocated (runs per 20 ms frame).
 */
export function copyFrame(
  pcm: Int16Array | readonly Int16Array[],
  channels: number,
  skip: number,
  dst: Int16Array,
  dstOffset: number,
  max: number,
): number {
  if (pcm instanceof Int16Array) {
    let n = pcm.length - skip;
    if (n > max) n = max;
    for (let i = 0; i < n; i++) dst[dstOffset + i] = pcm[skip + i]!;
    return n;
  }
  const left = pcm[0];
  if (left === undefined) return 0;
  if (channels === 1) {
    let n = left.length - skip;
    if (n > max) n = max;
    for (let i = 0; i < n; i++) dst[dstOffset + i] = left[skip + i]!;
    return n;
  }
  // Stereo from planar: a missing right channel records as silence.
  const right = pcm[1];
  let n = left.length * 2 - skip;
  if (n > max) n = max;
  for (let i = 0; i < n; i++) {
    const k = skip + i;
    const src = (k & 1) === 0 ? left : right;
    dst[dstOffset + i] = src === undefined ? 0 : src[k >> 1]!;
  }
  return n;
}

/** Interleaved samples in a frame, for either form. */
export function frameLength(pcm: Int16Array | readonly Int16Array[], channels: number): number {
  if (pcm instanceof Int16Array) return pcm.length;
  const left = pcm[0];
  return left === undefined ? 0 : left.length * channels;
}

/**
 * Interleave two planar channels into `out` (L R L R ...); returns samples written
 * (2 × min(left, right, out/2)).
 */
export function interleave(left: Int16Array, right: Int16Array, out: Int16Array): number {
  let n = left.length < right.length ? left.length : right.length;
  if (n * 2 > out.length) n = out.length >> 1;
  for (let i = 0; i < n; i++) {
    out[2 * i] = left[i]!;
    out[2 * i + 1] = right[i]!;
  }
  return n * 2;
}

/** The inverse of `interleave()`; returns samples per channel written. */
export function deinterleave(input: Int16Array, length: number, left: Int16Array, right: Int16Array): number {
  let n = length >> 1;
  if (n > left.length) n = left.length;
  if (n > right.length) n = right.length;
  for (let i = 0; i < n; i++) {
    left[i] = input[2 * i]!;
    right[i] = input[2 * i + 1]!;
  }
  return n;
}
