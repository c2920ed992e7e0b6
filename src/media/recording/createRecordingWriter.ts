import { UnsupportedError } from '../../common/errors.ts';
import type { EncoderHost } from './EncoderHost.ts';
import { Mp3Writer } from './Mp3Writer.ts';
import { OggOpusWriter } from './OggOpusWriter.ts';
import type { IfExists, RecordingFormat, RecordingWriter } from './RecordingWriter.ts';
import { WavFileWriter } from './WavFileWriter.ts';

export interface CreateRecordingWriterOptions {
  path: string;
  format: RecordingFormat;
  sampleRate: number;
  channels: number;
  ifExists?: IfExists;
  onError?: (err: Error) => void;
  /** bit/s for mp3/opus. */
  bitrate?: number;
  /** Audio between file writes / header updates (wav default 500 ms, mp3/opus 1000 ms). */
  flushMs?: number;
  /** mp3/opus: where encoding runs (default: the shared encoder worker pool). */
  encoder?: 'thread' | 'inline' | EncoderHost;
  /** opus: user comments, 'KEY=value'. */
  comments?: string[];
}

/** Open a writer for `format`; rejects with ValidationError/UnsupportedError/InvalidStateError. */
export async function createRecordingWriter(o: CreateRecordingWriterOptions): Promise<RecordingWriter> {
  const base = {
    path: o.path,
    sampleRate: o.sampleRate,
    channels: o.channels,
    ...(o.ifExists !== undefined ? { ifExists: o.ifExists } : {}),
    ...(o.onError !== undefined ? { onError: o.onError } : {}),
  };
  switch (o.format) {
    case 'wav':
      return WavFileWriter.open({ ...base, ...(o.flushMs !== undefined ? { flushIntervalMs: o.flushMs } : {}) });
    case 'mp3':
    case 'opus': {
      const enc = {
        ...base,
        ...(o.bitrate !== undefined ? { bitrate: o.bitrate } : {}),
        ...(o.flushMs !== undefined ? { flushMs: o.flushMs } : {}),
        ...(o.encoder !== undefined ? { encoder: o.encoder } : {}),
        ...(o.comments !== undefined ? { comments: o.comments } : {}),
      };
      return o.format === 'mp3' ? Mp3Writer.open(enc) : OggOpusWriter.open(enc);
    }
    default:
      throw new UnsupportedError('UNSUPPORTED_FORMAT', `recording format ${String(o.format)} (use wav, mp3 or opus)`);
  }
}
