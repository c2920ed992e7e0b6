import { Mp3Encoder } from '@breezystack/lamejs';
import { UnsupportedError } from '../../common/errors.ts';
import { deinterleave } from './RecordingWriter.ts';

/**
 * ISO 11172-3 / 13818-3 layer III: 48 kHz is MPEG-1, 16 kHz MPEG-2 (LSF), 8 kHz the MPEG-2.5
 * extension (lame supports it; ffmpeg and browsers decode it). Bit rates allowed per version:
 */
const MPEG1_KBPS = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG2_KBPS = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

export function mp3Version(sampleRate: number): 1 | 2 | 2.5 {
  if (sampleRate >= 32000) return 1;
  if (sampleRate >= 16000) return 2;
  return 2.5;
}

/** Default for speech: 16 kbit/s per channel at 8 kHz, 32 at 16 kHz, 64 at 48 kHz. */
export function defaultMp3Kbps(sampleRate: number, channels: number): number {
  const mono = sampleRate <= 8000 ? 16 : sampleRate <= 16000 ? 32 : 64;
  return Math.min(mono * channels, sampleRate >= 32000 ? 320 : 160);
}

export function checkMp3Kbps(sampleRate: number, kbps: number): void {
  const table = mp3Version(sampleRate) === 1 ? MPEG1_KBPS : MPEG2_KBPS;
  if (!table.includes(kbps)) {
    throw new UnsupportedError(
      'UNSUPPORTED_BITRATE',
      `MP3 at ${sampleRate} Hz takes ${table.join('/')} kbit/s, not ${kbps}`,
    );
  }
}

export interface Mp3StreamEncoderOptions {
  sampleRate: number;
  channels: number;
  /** kbit/s (CBR); see defaultMp3Kbps(). */
  kbps?: number;
}

/** PCM16 (interleaved) → MP3 frames with lamejs. Pure; runs on the encoder side. */
export class Mp3StreamEncoder {
  readonly sampleRate: number;
  readonly channels: number;
  readonly kbps: number;
  readonly #lame: Mp3Encoder;
  #left = new Int16Array(0);
  #right = new Int16Array(0);

  constructor(o: Mp3StreamEncoderOptions) {
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.kbps = o.kbps ?? defaultMp3Kbps(o.sampleRate, o.channels);
    checkMp3Kbps(o.sampleRate, this.kbps);
    this.#lame = new Mp3Encoder(o.channels, o.sampleRate, this.kbps);
  }

  /** Encode `length` interleaved samples from `pcm[offset]`; MP3 bytes (maybe none) go to `out`. */
  encode(pcm: Int16Array, offset: number, length: number, out: Uint8Array[]): void {
    let bytes: Uint8Array;
    if (this.channels === 1) {
      bytes = this.#lame.encodeBuffer(pcm.subarray(offset, offset + length));
    } else {
      const n = length >> 1;
      if (this.#left.length < n) {
        this.#left = new Int16Array(n);
        this.#right = new Int16Array(n);
      }
      deinterleave(pcm.subarray(offset, offset + length), length, this.#left, this.#right);
      bytes = this.#lame.encodeBuffer(this.#left.subarray(0, n), this.#right.subarray(0, n));
    }
    // lamejs hands back an Int8Array; Buffer.concat and fs want bytes.
    if (bytes.length > 0) out.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  /** The frames lame still holds (its look-ahead), padded to a whole frame. */
  finish(out: Uint8Array[]): void {
    const bytes = this.#lame.flush();
    if (bytes.length > 0) out.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  }
}

/** Read rate and channel count from the first MPEG audio frame header (after an ID3v2 tag). */
export function parseMp3FrameHeader(head: Uint8Array): { sampleRate: number; channels: number } | null {
  let at = 0;
  if (head.length >= 10 && head[0] === 0x49 && head[1] === 0x44 && head[2] === 0x33) {
    // ID3v2: 10-byte header, size as 4 × 7-bit bytes.
    at = 10 + ((head[6]! << 21) | (head[7]! << 14) | (head[8]! << 7) | head[9]!);
  }
  const rates: Record<number, number[]> = {
    3: [44100, 48000, 32000],
    2: [22050, 24000, 16000],
    0: [11025, 12000, 8000],
  };
  for (; at + 4 <= head.length; at++) {
    if (head[at] !== 0xff || (head[at + 1]! & 0xe0) !== 0xe0) continue;
    const version = (head[at + 1]! >> 3) & 3;
    const layer = (head[at + 1]! >> 1) & 3;
    const srIndex = (head[at + 2]! >> 2) & 3;
    if (version === 1 || layer !== 1 || srIndex === 3) continue; // want layer III (01)
    const sampleRate = rates[version]![srIndex]!;
    const mode = (head[at + 3]! >> 6) & 3;
    return { sampleRate, channels: mode === 3 ? 1 : 2 };
  }
  return null;
}
