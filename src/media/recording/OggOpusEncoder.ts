import OpusScript from 'opusscript';
import { randomInt } from 'node:crypto';
import { OggStream } from './ogg.ts';

/**
 * Encoder delay at 48 kHz: libopus reports OPUS_GET_LOOKAHEAD = Fs/400 + delay_compensation
 * (Fs/250) for the VOIP and AUDIO applications, 2.5 + 4 ms = 312 samples once scaled to 48 kHz,
 * whatever the input rate. opusscript exposes no way to read it back, so it is a constant here and
 * the tests check it (a chirp decoded by ffmpeg lines up with its source).
 */
export const OPUS_PRE_SKIP_48K = 312;

export const OPUS_VENDOR = 'media-server-core (libopus via opusscript)';

export interface OggOpusEncoderOptions {
  /** Input rate: 8000, 16000 or 48000 (opusscript also takes 12000/24000). */
  sampleRate: number;
  channels: number;
  /** Bits per second for all channels; default 16k mono at 8 kHz, 24k at 16 kHz, 32k at 48 kHz, ×2 stereo. */
  bitrate?: number;
  /** Audio per Ogg page: a crash loses at most this much (default 1000 ms). */
  pageMs?: number;
  /** User comments for OpusTags, 'KEY=value'. */
  comments?: readonly string[];
  serial?: number;
}

const OPUS_APPLICATION_VOIP = 2048;
const FRAME_MS = 20;
const FRAME_48K = 960;

/** Default bit rate for speech recordings; enough for wideband speech at each input rate. */
export function defaultOpusBitrate(sampleRate: number, channels: number): number {
  const mono = sampleRate <= 8000 ? 16000 : sampleRate <= 16000 ? 24000 : 32000;
  return mono * channels;
}

/**
 * PCM16 (interleaved) → Ogg Opus pages, RFC 7845. Pure: returns bytes, opens no files.
 * Frames are 20 ms; page 0 is OpusHead alone (BOS), page 1 OpusTags alone, audio pages follow every
 * `pageMs`, and `finish()` pads the last frame, encodes enough extra audio to cover the pre-skip,
 * and writes the final granule position so decoders trim to the exact input length (4.4).
 */
export class OggOpusEncoder {
  readonly sampleRate: number;
  readonly channels: number;
  readonly preSkip = OPUS_PRE_SKIP_48K;
  readonly #opus: OpusScript;
  readonly #ogg: OggStream;
  readonly #frameSamples: number; // per channel, at the input rate
  readonly #frame: Int16Array;
  readonly #frameBytes: Buffer;
  readonly #packetsPerPage: number;
  readonly #comments: readonly string[];
  /** Newest packet, held back so the EOS page always has one to carry the final granule. */
  #pendingLast: Uint8Array | null = null;
  #fill = 0; // interleaved samples in #frame
  #packetsOnPage = 0;
  /** Samples per channel of real input, at 48 kHz. */
  #input48 = 0;
  /** Granule of the last encoded packet (48 kHz samples, pre-skip included). */
  #granule = 0;
  #finished = false;
  #closed = false;

  constructor(o: OggOpusEncoderOptions) {
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.#opus = new OpusScript(o.sampleRate as 8000 | 16000 | 48000, o.channels, OPUS_APPLICATION_VOIP);
    this.#opus.setBitrate(o.bitrate ?? defaultOpusBitrate(o.sampleRate, o.channels));
    this.#ogg = new OggStream(o.serial ?? randomInt(0, 0xffffffff));
    this.#frameSamples = (o.sampleRate * FRAME_MS) / 1000;
    this.#frame = new Int16Array(this.#frameSamples * o.channels);
    // opusscript wants the bytes of little-endian PCM16 in a Buffer.
    this.#frameBytes = Buffer.from(this.#frame.buffer, this.#frame.byteOffset, this.#frame.byteLength);
    this.#packetsPerPage = Math.max(1, Math.round((o.pageMs ?? 1000) / FRAME_MS));
    this.#comments = o.comments ?? [];
  }

  /** Granule position written so far (48 kHz, pre-skip included). */
  get granule(): number {
    return this.#granule;
  }

  /** The two header pages (RFC 7845 5.1 OpusHead, 5.2 OpusTags); call once, before any audio. */
  headers(out: Uint8Array[]): void {
    const head = new Uint8Array(19);
    const hv = new DataView(head.buffer);
    head.set(Buffer.from('OpusHead', 'latin1'), 0);
    head[8] = 1; // version
    head[9] = this.channels;
    hv.setUint16(10, this.preSkip, true);
    hv.setUint32(12, this.sampleRate, true); // original input rate, informational
    hv.setInt16(16, 0, true); // output gain
    head[18] = 0; // channel mapping family 0: mono or stereo, no table
    this.#ogg.addPacket(head, 0);
    out.push(this.#ogg.flushPage(false)!);

    const vendor = Buffer.from(OPUS_VENDOR, 'utf8');
    const comments = this.#comments.map((c) => Buffer.from(c, 'utf8'));
    let len = 8 + 4 + vendor.length + 4;
    for (const c of comments) len += 4 + c.length;
    const tags = new Uint8Array(len);
    const tv = new DataView(tags.buffer);
    tags.set(Buffer.from('OpusTags', 'latin1'), 0);
    let at = 8;
    tv.setUint32(at, vendor.length, true);
    tags.set(vendor, at + 4);
    at += 4 + vendor.length;
    tv.setUint32(at, comments.length, true);
    at += 4;
    for (const c of comments) {
      tv.setUint32(at, c.length, true);
      tags.set(c, at + 4);
      at += 4 + c.length;
    }
    // Header packets carry granule 0; audio must start on a fresh page (RFC 7845 3).
    this.#ogg.addPacket(tags, 0);
    out.push(this.#ogg.flushPage(false)!);
  }

  /** Encode `length` interleaved samples from `pcm[offset]`; completed pages go to `out`. */
  encode(pcm: Int16Array, offset: number, length: number, out: Uint8Array[]): void {
    if (this.#finished) throw new Error('OggOpusEncoder already finished');
    const frameLen = this.#frame.length;
    this.#input48 += (length / this.channels) * (48000 / this.sampleRate);
    for (let i = 0; i < length; ) {
      let n = frameLen - this.#fill;
      if (n > length - i) n = length - i;
      this.#frame.set(pcm.subarray(offset + i, offset + i + n), this.#fill);
      this.#fill += n;
      i += n;
      if (this.#fill === frameLen) this.#encodeFrame(out);
    }
  }

  /** Emit the packets gathered so far as a (short) page, e.g. before a checkpoint. */
  flush(out: Uint8Array[]): void {
    if (this.#finished) return;
    const page = this.#ogg.flushPage(false);
    if (page !== null) out.push(page);
    this.#packetsOnPage = 0;
  }

  /** Pad, cover the pre-skip, write the EOS page with the end-trimming granule (RFC 7845 4.4). */
  finish(out: Uint8Array[]): void {
    if (this.#finished) return;
    if (this.#fill > 0) {
      this.#frame.fill(0, this.#fill);
      this.#encodeFrame(out);
    }
    const end = this.preSkip + Math.round(this.#input48);
    while (this.#granule < end) {
      this.#frame.fill(0);
      this.#encodeFrame(out);
    }
    this.#finished = true;
    // The last page's granule is the end of real audio: decoders drop the padding after it.
    const flushed = this.#ogg.addPacket(this.#pendingLast!, end);
    if (flushed !== null) out.push(flushed);
    this.#pendingLast = null;
    out.push(this.#ogg.flushPage(true)!);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#opus.delete();
  }

  #encodeFrame(out: Uint8Array[]): void {
    const packet = this.#opus.encode(this.#frameBytes, this.#frameSamples);
    this.#fill = 0;
    this.#granule += FRAME_48K;
    if (this.#pendingLast !== null) this.#push(this.#pendingLast, this.#granule - FRAME_48K, out);
    this.#pendingLast = packet;
  }

  #push(packet: Uint8Array, granule: number, out: Uint8Array[]): void {
    const flushed = this.#ogg.addPacket(packet, granule);
    if (flushed !== null) {
      out.push(flushed);
      this.#packetsOnPage = 0;
    }
    if (++this.#packetsOnPage >= this.#packetsPerPage) {
      out.push(this.#ogg.flushPage(false)!);
      this.#packetsOnPage = 0;
    }
  }
}
