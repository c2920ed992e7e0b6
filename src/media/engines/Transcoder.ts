import type { MediaCodecConfig } from '../../protocol/index.ts';
import type { Codec } from '../codecs/Codec.ts';
import { createCodec, type CreateCodecOptions } from '../codecs/index.ts';
import { alawToUlawTable, ulawToAlawTable } from '../codecs/g711.ts';
import { Resampler } from '../dsp/Resampler.ts';

/**
 * Converts the source codec's payloads into the destination codec. Input packets go in with
 * push(); output frames of the destination's packet time come out of pull(), so a peer sending
 * odd packet sizes (16 ms, 30 ms) still yields valid 20 ms Opus frames. G.711 table conversion
 * is 1:1 (one packet out per packet in, same duration).
 */
export interface Transcoder {
  /** Feeds one received payload; false when it could not be decoded. */
  push(payload: Uint8Array): boolean;
  /** Writes the next encoded frame into `out`; returns bytes, 0 when no full frame is ready. */
  pull(out: Uint8Array): number;
  /** Samples (destination RTP clock) covered by the frame last returned by pull(). */
  readonly lastFrameClock: number;
  /** Samples (destination RTP clock) decoded but not yet pulled. */
  readonly backlogClock: number;
  /** Forgets buffered audio (after a timestamp jump: silence suppression, new source). */
  reset(): void;
  /** Destination RTP clock units of one output frame (0 when frames follow the input 1:1). */
  readonly frameClock: number;
  /** True when payloads are decoded to PCM (a jitter buffer pays off); false for table lookups. */
  readonly decodes: boolean;
  /** Feeds one source frame of loss concealment (codec PLC, else the last frame faded). */
  conceal(): boolean;
  close(): void;
}

export function sameCodec(a: MediaCodecConfig, b: MediaCodecConfig): boolean {
  return a.name === b.name && a.clockRate === b.clockRate && a.channels === b.channels;
}

/** G.711 A-law <-> mu-law needs no decode: a 256-entry table (G.711 Table 3/4 conversions). */
class G711TableTranscoder implements Transcoder {
  readonly #table: Uint8Array;
  #pending: Uint8Array | null = null;
  lastFrameClock = 0;
  get backlogClock(): number {
    return this.#pending === null ? 0 : this.#pending.length;
  }
  constructor(table: Uint8Array) {
    this.#table = table;
  }
  push(payload: Uint8Array): boolean {
    this.#pending = payload;
    return true;
  }
  pull(out: Uint8Array): number {
    const payload = this.#pending;
    if (payload === null) return 0;
    this.#pending = null;
    const table = this.#table;
    const n = payload.length;
    for (let i = 0; i < n; i++) out[i] = table[payload[i]!]!;
    this.lastFrameClock = n;
    return n;
  }
  reset(): void {
    this.#pending = null;
  }
  readonly decodes = false;
  readonly frameClock = 0;
  conceal(): boolean {
    return false;
  }
  close(): void {}
}

const OPUS_RATES = new Set([8000, 16000, 24000, 48000]);
const FIFO_SECONDS = 0.5;

/** Any other pair: decode to PCM, resample to the destination codec's rate, re-frame, encode. */
class PcmTranscoder implements Transcoder {
  readonly #decoder: Codec;
  readonly #encoder: Codec;
  readonly #resampler: Resampler | null;
  readonly #pcm = new Int16Array(48000 * 0.12);
  readonly #resampled = new Int16Array(48000 * 0.24);
  readonly #fifo: Int16Array;
  #fill = 0;
  /** Encoder-rate samples per output frame (destination ptime). */
  readonly #frame: number;
  /** Destination RTP clock units per output frame. */
  readonly #frameClock: number;
  readonly #clockPerSample: number;
  /** Decoder-rate samples of one source packet (the source's ptime), for concealment. */
  readonly #srcFrame: number;
  #haveLast = false;
  lastFrameClock = 0;
  readonly decodes = true;

  get frameClock(): number {
    return this.#frameClock;
  }

  constructor(src: MediaCodecConfig, dst: MediaCodecConfig) {
    // Opus can decode and encode at the other leg's rate itself (RFC 6716 2): no resampler,
    // about five times cheaper than 48 kHz plus resampling.
    const srcRate = createCodec(src.name, codecOptions(src));
    const dstRate = createCodec(dst.name, codecOptions(dst));
    this.#decoder =
      src.name === 'opus' && OPUS_RATES.has(dstRate.sampleRate)
        ? (srcRate.close?.(), createCodec(src.name, { ...codecOptions(src), sampleRate: dstRate.sampleRate }))
        : srcRate;
    this.#encoder =
      dst.name === 'opus' && OPUS_RATES.has(this.#decoder.sampleRate)
        ? (dstRate.close?.(), createCodec(dst.name, { ...codecOptions(dst), sampleRate: this.#decoder.sampleRate }))
        : dstRate;
    this.#resampler =
      this.#decoder.sampleRate === this.#encoder.sampleRate
        ? null
        : new Resampler(this.#decoder.sampleRate, this.#encoder.sampleRate);
    const ptime = dst.ptime > 0 ? dst.ptime : 20;
    this.#frame = Math.round((this.#encoder.sampleRate * ptime) / 1000);
    this.#frameClock = Math.round((dst.clockRate * ptime) / 1000);
    this.#clockPerSample = dst.clockRate / this.#encoder.sampleRate;
    this.#srcFrame = Math.round((this.#decoder.sampleRate * (src.ptime > 0 ? src.ptime : 20)) / 1000);
    this.#fifo = new Int16Array(Math.max(this.#frame * 4, Math.round(this.#encoder.sampleRate * FIFO_SECONDS)));
  }

  get backlogClock(): number {
    return Math.round(this.#fill * this.#clockPerSample);
  }

  push(payload: Uint8Array): boolean {
    let samples: number;
    try {
      samples = this.#decoder.decode(payload, this.#pcm);
    } catch {
      return false;
    }
    if (samples <= 0) return false;
    this.#haveLast = true;
    return this.#append(samples);
  }

  conceal(): boolean {
    const frame = this.#srcFrame;
    const pcm = this.#pcm;
    let samples = 0;
    if (this.#decoder.conceal !== undefined) {
      // Codec PLC: libopus, G.711 Appendix I (also used for G.722 and L16).
      samples = this.#decoder.conceal(pcm, frame);
    } else if (this.#haveLast) {
      // No codec PLC: the last frame again, 6 dB down each time.
      for (let i = 0; i < frame; i++) pcm[i] = (pcm[i]! * 0.5) | 0;
      samples = frame;
    }
    return samples > 0 && this.#append(samples);
  }

  #append(samples: number): boolean {
    let pcm = this.#pcm.subarray(0, samples);
    if (this.#resampler !== null) {
      const n = this.#resampler.process(pcm, this.#resampled);
      pcm = this.#resampled.subarray(0, n);
    }
    const fifo = this.#fifo;
    if (this.#fill + pcm.length > fifo.length) {
      // A backlog this large means the output fell behind: keep latency bounded, drop the oldest.
      const keep = Math.max(0, fifo.length - pcm.length);
      fifo.copyWithin(0, this.#fill - keep, this.#fill);
      this.#fill = keep;
    }
    fifo.set(pcm, this.#fill);
    this.#fill += pcm.length;
    return true;
  }

  pull(out: Uint8Array): number {
    const frame = this.#frame;
    if (this.#fill < frame) return 0;
    const fifo = this.#fifo;
    let n: number;
    try {
      n = this.#encoder.encode(fifo.subarray(0, frame), out);
    } catch {
      n = 0;
    }
    fifo.copyWithin(0, frame, this.#fill);
    this.#fill -= frame;
    this.lastFrameClock = this.#frameClock;
    return n;
  }

  reset(): void {
    this.#fill = 0;
    this.#haveLast = false;
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
