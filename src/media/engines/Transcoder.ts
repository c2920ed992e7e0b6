import type { MediaCodecConfig } from '../../common/workerProtocol.ts';
import type { Codec } from '../codecs/Codec.ts';
import { createCodec, type CreateCodecOptions } from '../codecs/index.ts';
import { alawToUlawTable, ulawToAlawTable } from '../codecs/g711.ts';
import { Resampler } from '../dsp/Resampler.ts';

const OPUS_RATES = new Set([8000, 16000, 24000, 48000]);

/** Converts one RTP payload of the source codec into the destination codec. */
export interface Transcoder {
  /** Returns bytes written to `out`, or 0 when the payload could not be converted. */
  transcode(payload: Uint8Array, out: Uint8Array): number;
  close(): void;
}

export function sameCodec(a: MediaCodecConfig, b: MediaCodecConfig): boolean {
  return a.name === b.name && a.clockRate === b.clockRate && a.channels === b.channels;
}

/** G.711 A-law <-> mu-law needs no decode: a 256-entry table (G.711 Table 3/4 conversions). */
class G711TableTranscoder implements Transcoder {
  readonly #table: Uint8Array;
  constructor(table: Uint8Array) {
    this.#table = table;
  }
  transcode(payload: Uint8Array, out: Uint8Array): number {
    const table = this.#table;
    const n = payload.length;
    for (let i = 0; i < n; i++) out[i] = table[payload[i]!]!;
    return n;
  }
  close(): void {}
}

/** Any other pair: decode to PCM, resample to the destination codec's rate, encode. */
class PcmTranscoder implements Transcoder {
  readonly #decoder: Codec;
  readonly #encoder: Codec;
  readonly #resampler: Resampler | null;
  readonly #pcm = new Int16Array(48000 * 0.12);
  readonly #resampled = new Int16Array(48000 * 0.12);

  constructor(src: MediaCodecConfig, dst: MediaCodecConfig) {
    // Opus can decode and encode at the other leg's rate itself (RFC 6716 2): no resampler,
    // about five times cheaper than 48 kHz plus resampling.
    const srcRate = createCodec(src.name, codecOptions(src));
    const dstRate = createCodec(dst.name, codecOptions(dst));
    this.#decoder = src.name === 'opus' && OPUS_RATES.has(dstRate.sampleRate)
      ? (srcRate.close?.(), createCodec(src.name, { ...codecOptions(src), sampleRate: dstRate.sampleRate }))
      : srcRate;
    this.#encoder = dst.name === 'opus' && OPUS_RATES.has(this.#decoder.sampleRate)
      ? (dstRate.close?.(), createCodec(dst.name, { ...codecOptions(dst), sampleRate: this.#decoder.sampleRate }))
      : dstRate;
    this.#resampler = this.#decoder.sampleRate === this.#encoder.sampleRate
      ? null
      : new Resampler(this.#decoder.sampleRate, this.#encoder.sampleRate);
  }

  transcode(payload: Uint8Array, out: Uint8Array): number {
    let samples: number;
    try {
      samples = this.#decoder.decode(payload, this.#pcm);
    } catch {
      return 0;
    }
    if (samples <= 0) return 0;
    let pcm = this.#pcm.subarray(0, samples);
    if (this.#resampler !== null) {
      const n = this.#resampler.process(pcm, this.#resampled);
      pcm = this.#resampled.subarray(0, n);
    }
    return this.#encoder.encode(pcm, out);
  }

  close(): void {
    this.#decoder.close?.();
    this.#encoder.close?.();
  }
}

/** Codec options from SDP fmtp (RFC 7587 7.1: the receiver's maxaveragebitrate/useinbandfec). */
export function codecOptions(c: MediaCodecConfig): CreateCodecOptions {
  const bitrate = Number(c.fmtp.maxaveragebitrate);
  return {
    clockRate: c.clockRate,
    ...(Number.isFinite(bitrate) && bitrate > 0 ? { bitrate } : {}),
    fec: c.fmtp.useinbandfec === '1',
  };
}

export function createTranscoder(src: MediaCodecConfig, dst: MediaCodecConfig): Transcoder {
  if (src.name === 'pcmu' && dst.name === 'pcma') return new G711TableTranscoder(ulawToAlawTable);
  if (src.name === 'pcma' && dst.name === 'pcmu') return new G711TableTranscoder(alawToUlawTable);
  return new PcmTranscoder(src, dst);
}
