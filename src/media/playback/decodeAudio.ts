import wavefile from 'wavefile';
import { UnsupportedError, ValidationError } from '../../common/errors.ts';
import { resample } from '../dsp/Resampler.ts';
import { convertRate } from './convertRate.ts';

/** Mono PCM16 at a sample rate: what every playback source is turned into. */
export interface DecodedAudio {
  readonly pcm: Int16Array;
  readonly sampleRate: number;
}

export type AudioFormat = 'wav' | 'mp3';

/** Sniff the container from the first bytes (files and HTTP bodies often lie about their type). */
export function detectFormat(bytes: Uint8Array): AudioFormat | undefined {
  if (bytes.length >= 12) {
    const tag = String.fromCharCode(bytes[0] as number, bytes[1] as number, bytes[2] as number, bytes[3] as number);
    const wave = String.fromCharCode(bytes[8] as number, bytes[9] as number, bytes[10] as number, bytes[11] as number);
    if ((tag === 'RIFF' || tag === 'RIFX' || tag === 'RF64') && wave === 'WAVE') return 'wav';
  }
  if (bytes.length >= 3 && bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) return 'mp3'; // 'ID3'
  // MPEG audio frame sync: 11 set bits (ISO/IEC 11172-3 2.4.1.3), layer != reserved.
  if (
    bytes.length >= 2 &&
    bytes[0] === 0xff &&
    ((bytes[1] as number) & 0xe0) === 0xe0 &&
    ((bytes[1] as number) & 0x06) !== 0
  )
    return 'mp3';
  return undefined;
}

/**
 * Streamed WAVs (`espeak-ng --stdout`, `sox ... -t wav -`) carry 0xFFFFFFFF-ish sizes because the
 * writer could not seek back. Clamp the RIFF and data sizes to what is present so the parser accepts it.
 */
export function fixStreamedWav(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 12 || detectFormat(bytes) !== 'wav' || bytes[0] !== 0x52 /* RIFF, little endian */) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out: Uint8Array | undefined;
  const copy = (): DataView => {
    out ??= bytes.slice();
    return new DataView(out.buffer, out.byteOffset, out.byteLength);
  };
  if (view.getUint32(4, true) !== bytes.length - 8) copy().setUint32(4, bytes.length - 8, true);
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = String.fromCharCode(
      bytes[pos] as number,
      bytes[pos + 1] as number,
      bytes[pos + 2] as number,
      bytes[pos + 3] as number,
    );
    const size = view.getUint32(pos + 4, true);
    const avail = bytes.length - pos - 8;
    if (id === 'data') {
      // A writer streaming to a pipe cannot seek back: it leaves the size 0 (festival's text2wave)
      // or 0xFFFFFFFF (ffmpeg); the data is then the rest of the file. Keep whole sample frames
      // only; wavefile rejects a trailing partial sample.
      if (size > avail || (size === 0 && avail > 0)) copy().setUint32(pos + 4, avail, true);
      break;
    }
    pos += 8 + size + (size & 1);
  }
  return out ?? bytes;
}

interface WavFmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/**
 * Decode a WAV of any common encoding (8-bit unsigned, 16/24/32-bit int, 32/64-bit float,
 * G.711 mu-law/A-law, IMA ADPCM) to mono PCM16 at its own rate; channels are averaged.
 */
export function decodeWav(input: Uint8Array): DecodedAudio {
  let wav: InstanceType<typeof wavefile.WaveFile>;
  try {
    wav = new wavefile.WaveFile(fixStreamedWav(input));
  } catch (err) {
    throw new ValidationError('INVALID_MEDIA', `not a readable WAV file: ${(err as Error).message}`);
  }
  const fmt = wav.fmt as WavFmt;
  const channels = fmt.numChannels;
  const sampleRate = fmt.sampleRate;
  if (!(channels >= 1 && channels <= 32) || !(sampleRate >= 4000 && sampleRate <= 384000)) {
    throw new UnsupportedError(
      'UNSUPPORTED_MEDIA_FORMAT',
      `WAV with ${channels} channels at ${sampleRate} Hz is not supported`,
    );
  }
  try {
    switch (wav.bitDepth) {
      case '8m':
        wav.fromMuLaw('16');
        break;
      case '8a':
        wav.fromALaw('16');
        break;
      case '4':
        wav.fromIMAADPCM('16');
        break;
      default:
        break;
    }
  } catch (err) {
    throw new ValidationError('INVALID_MEDIA', `cannot decode WAV: ${(err as Error).message}`);
  }
  const depth = wav.bitDepth;
  // Scale from the container's native sample value to PCM16.
  let scale: number;
  let bias = 0;
  switch (depth) {
    case '8':
      scale = 256;
      bias = -128;
      break;
    case '16':
      scale = 1;
      break;
    case '24':
      scale = 1 / 256;
      break;
    case '32':
      scale = 1 / 65536;
      break;
    case '32f':
    case '64':
      scale = 32767;
      break;
    default:
      throw new UnsupportedError(
        'UNSUPPORTED_MEDIA_FORMAT',
        `WAV bit depth '${depth}' (format ${fmt.audioFormat}) is not supported`,
      );
  }
  const samples = wav.getSamples(true, Float64Array) as unknown as Float64Array;
  const frames = Math.floor(samples.length / channels);
  const pcm = new Int16Array(frames);
  const k = scale / channels;
  for (let i = 0, j = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += (samples[j++] as number) + bias;
    const v = Math.round(sum * k);
    pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return { pcm, sampleRate };
}

type MpegDecoderCtor = typeof import('mpg123-decoder').MPEGDecoder;
let mpegDecoderCtor: Promise<MpegDecoderCtor> | undefined;

/** Decode MP3 (MPEG-1/2 layer I/II/III) with mpg123 compiled to WASM; channels are averaged. */
export async function decodeMp3(input: Uint8Array): Promise<DecodedAudio> {
  // Loaded on first use: most workers never play an MP3.
  mpegDecoderCtor ??= import('mpg123-decoder').then((m) => m.MPEGDecoder);
  const Ctor = await mpegDecoderCtor;
  // One decoder per file: decoders are stateful and calls may interleave across awaits.
  const decoder = new Ctor();
  try {
    await decoder.ready;
    const res = decoder.decode(input);
    const channels = res.channelData.length;
    if (channels === 0 || res.samplesDecoded === 0 || !(res.sampleRate > 0)) {
      throw new ValidationError('INVALID_MEDIA', 'not a decodable MP3 (no audio frames)');
    }
    const n = res.samplesDecoded;
    const pcm = new Int16Array(n);
    const k = 32767 / channels;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += (res.channelData[c] as Float32Array)[i] as number;
      const v = Math.round(sum * k);
      pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    return { pcm, sampleRate: res.sampleRate };
  } finally {
    decoder.free();
  }
}

/** Decode WAV or MP3 bytes (sniffed) to mono PCM16 at the file's rate. */
export async function decodeAudio(bytes: Uint8Array, what = 'media'): Promise<DecodedAudio> {
  switch (detectFormat(bytes)) {
    case 'wav':
      return decodeWav(bytes);
    case 'mp3':
      return decodeMp3(bytes);
    default:
      throw new UnsupportedError('UNSUPPORTED_MEDIA_FORMAT', `${what}: not a WAV or MP3 file`);
  }
}

/** Rates the media-plane Resampler handles (integer ratios between the endpoint rates). */
const ENGINE_RATES = new Set([8000, 16000, 48000]);

/**
 * Convert decoded audio to `rate` (no copy when it is already there): between endpoint rates with
 * the media plane's polyphase Resampler, from any other file rate (44.1k, 22.05k...) with the
 * arbitrary-ratio convertRate().
 */
export function toRate(audio: DecodedAudio, rate: number): DecodedAudio {
  if (audio.sampleRate === rate) return audio;
  const pcm =
    ENGINE_RATES.has(audio.sampleRate) && ENGINE_RATES.has(rate)
      ? resample(audio.pcm, audio.sampleRate, rate)
      : convertRate(audio.pcm, audio.sampleRate, rate);
  return { pcm, sampleRate: rate };
}

/** Decode and convert to the endpoint rate in one step. */
export async function decodeAudioAt(bytes: Uint8Array, rate: number, what?: string): Promise<DecodedAudio> {
  return toRate(await decodeAudio(bytes, what), rate);
}
