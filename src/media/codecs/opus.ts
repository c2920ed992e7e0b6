import { createRequire } from 'node:module';
import { InvalidStateError } from '../../common/errors.ts';
import type { Codec } from './Codec.ts';

/**
 * Opus (RFC 6716) over the libopus 1.4 WebAssembly build shipped in `opusscript`.
 *
 * We drive the Emscripten module directly rather than through opusscript's JS wrapper, which
 * allocates a Buffer per call and indexes HEAPU16 with byte addresses (it writes outside the
 * memory it malloc'd). The C glue (`OpusScriptHandler`) passes PCM as one byte per int16 slot
 * (low byte, high byte) in both directions; we honour that layout here.
 *
 * RTP (RFC 7587): clock rate always 48000 and rtpmap `opus/48000/2`; we send and expect mono.
 * The PCM rate is 48000 by default; libopus can also run its codec at 8/16/24 kHz natively, which
 * saves a resampler when bridging to narrowband legs.
 *
 * FEC: the encoder side is complete (OPUS_SET_INBAND_FEC + OPUS_SET_PACKET_LOSS_PERC), so peers
 * that decode LBRR benefit. The decoder side is limited by the build: opusscript's `_decode`
 * calls opus_decode() with decode_fec hard-wired to 0 (and inlined into the WASM), so
 * decodeFec() cannot reach the LBRR data and falls back to PLC for the lost frame.
 */

interface OpusNative {
  HEAPU8: Uint8Array;
  HEAP16: Int16Array;
  HEAPU16: Uint16Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  OpusScriptHandler: {
    new (rate: number, channels: number, application: number): OpusHandler;
    destroy_handler(h: OpusHandler): void;
  };
}
interface OpusHandler {
  _encode(inputPtr: number, samples: number, outputPtr: number, frameSize: number): number;
  _decode(inputPtr: number, bytes: number, outputPtr: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
  _decoder_ctl(ctl: number, arg: number): number;
}

let native: OpusNative | undefined;
function loadNative(): OpusNative {
  if (!native) {
    const require = createRequire(import.meta.url);
    // Instantiates synchronously (the glue uses new WebAssembly.Module/Instance).
    const factory = require('opusscript/build/opusscript_native_wasm.js') as () => OpusNative;
    native = factory();
  }
  return native;
}

// opus_defines.h
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_APPLICATION_AUDIO = 2049;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_SET_DTX = 4016;

const MAX_FRAME = 5760; // 120 ms at 48 kHz, the glue's MAX_FRAME_SIZE
const MAX_PACKET = 3828; // 1276 * 3, the glue's MAX_PACKET_SIZE

export interface OpusOptions {
  /** PCM rate of encode() input and decode() output: 8000, 16000, 24000 or 48000 (default). */
  sampleRate?: number;
  /** Target bitrate in bit/s (RFC 7587 maxaveragebitrate); default 32000. */
  bitrate?: number;
  /** Encode in-band FEC (SDP useinbandfec=1). */
  fec?: boolean;
  /** Expected packet loss in percent, steers how much FEC the encoder spends; default 10 with fec. */
  packetLossPercent?: number;
  /** 0..10, default 5: a fair point for many calls per core. */
  complexity?: number;
  /** Discontinuous transmission (SDP usedtx=1). */
  dtx?: boolean;
  /** 'voip' (default) or 'audio' (music on hold). */
  application?: 'voip' | 'audio';
}

/** Samples per frame of an Opus packet, from its TOC byte (RFC 6716 3.1), at `rate`. */
export function opusFrameSamples(toc: number, rate: number): number {
  const config = toc >> 3;
  let per48: number;
  if (config < 12)
    per48 = [480, 960, 1920, 2880][config & 3]!; // SILK 10/20/40/60 ms
  else if (config < 16)
    per48 = (config & 1) === 0 ? 480 : 960; // hybrid 10/20 ms
  else per48 = 120 << (config & 3); // CELT 2.5/5/10/20 ms
  return (per48 * rate) / 48000;
}

/** Samples in a whole Opus packet (RFC 6716 3.2: codes 0-3), or 0 if malformed. */
export function opusPacketSamples(packet: Uint8Array, rate: number): number {
  if (packet.length < 1) return 0;
  const toc = packet[0]!;
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code !== 3) frames = 2;
  else {
    if (packet.length < 2) return 0;
    frames = packet[1]! & 0x3f;
  }
  return frames * opusFrameSamples(toc, rate);
}

export class OpusCodec implements Codec {
  readonly name = 'opus';
  readonly clockRate = 48000;
  readonly sampleRate: number;
  readonly channels = 1;
  /** rtpmap channel count required by RFC 7587 section 7. */
  readonly rtpmapChannels = 2;
  readonly bitrate: number;
  readonly fec: boolean;
  /** Packets that libopus rejected (counted, never thrown: they come from the network). */
  decodeErrors = 0;

  readonly #native: OpusNative;
  #handler: OpusHandler | undefined;
  readonly #pcmIn: number;
  readonly #pktOut: number;
  readonly #pktIn: number;
  readonly #pcmOut: number;
  /** TOC of the last good packet, code bits cleared: a TOC-only packet of it asks for PLC. */
  #plcToc = -1;

  constructor(options: OpusOptions = {}) {
    const rate = options.sampleRate ?? 48000;
    if (rate !== 8000 && rate !== 16000 && rate !== 24000 && rate !== 48000) {
      throw new RangeError(`Opus sample rate ${rate} not supported`);
    }
    this.sampleRate = rate;
    this.bitrate = options.bitrate ?? 32000;
    this.fec = options.fec ?? false;
    const n = loadNative();
    this.#native = n;
    const app = options.application === 'audio' ? OPUS_APPLICATION_AUDIO : OPUS_APPLICATION_VOIP;
    this.#handler = new n.OpusScriptHandler(rate, 1, app);
    // Encode input and decode output use two int16 slots per sample: 4 bytes each.
    this.#pcmIn = n._malloc(MAX_FRAME * 4);
    this.#pktOut = n._malloc(MAX_PACKET);
    this.#pktIn = n._malloc(MAX_PACKET);
    this.#pcmOut = n._malloc(MAX_FRAME * 4);
    const h = this.#handler;
    this.#ctl(h._encoder_ctl(OPUS_SET_BITRATE, this.bitrate), 'bitrate');
    this.#ctl(h._encoder_ctl(OPUS_SET_COMPLEXITY, options.complexity ?? 5), 'complexity');
    this.#ctl(h._encoder_ctl(OPUS_SET_INBAND_FEC, this.fec ? 1 : 0), 'inband fec');
    this.#ctl(
      h._encoder_ctl(OPUS_SET_PACKET_LOSS_PERC, options.packetLossPercent ?? (this.fec ? 10 : 0)),
      'packet loss',
    );
    this.#ctl(h._encoder_ctl(OPUS_SET_DTX, options.dtx ? 1 : 0), 'dtx');
  }

  #ctl(rc: number, what: string): void {
    if (rc < 0) {
      this.close();
      throw new RangeError(`Opus ${what} rejected (error ${rc})`);
    }
  }

  #live(): OpusHandler {
    const h = this.#handler;
    if (!h) throw new InvalidStateError('CODEC_CLOSED', 'Opus codec is closed');
    return h;
  }

  /** Encode one frame (2.5-60 ms at sampleRate) into `out`; returns the packet length. */
  encode(pcm: Int16Array, out: Uint8Array): number {
    const h = this.#live();
    const n = pcm.length;
    if (n > MAX_FRAME) throw new RangeError('Opus frame too long');
    const heap = this.#native.HEAP16; // re-read: the views change if WASM memory grows
    const base = this.#pcmIn >> 1;
    for (let i = 0, j = base; i < n; i++, j += 2) {
      const s = pcm[i]!;
      heap[j] = s & 0xff;
      heap[j + 1] = (s >> 8) & 0xff;
    }
    const len = h._encode(this.#pcmIn, n, this.#pktOut, n);
    if (len < 0) throw new RangeError(`Opus encode failed (error ${len}, frame of ${n} samples)`);
    const bytes = this.#native.HEAPU8;
    const p = this.#pktOut;
    for (let i = 0; i < len; i++) out[i] = bytes[p + i]!;
    return len;
  }

  /** Decode one packet into `out`; returns samples, or 0 for a packet libopus rejects. */
  decode(payload: Uint8Array, out: Int16Array): number {
    const len = payload.length;
    if (len === 0 || len > MAX_PACKET) {
      this.decodeErrors++;
      return 0;
    }
    const samples = this.#decodeRaw(payload, len, out, 0, out.length);
    if (samples > 0) this.#plcToc = payload[0]! & 0xfc;
    return samples;
  }

  #decodeRaw(payload: Uint8Array | null, len: number, out: Int16Array, at: number, room: number): number {
    const h = this.#live();
    const bytes = this.#native.HEAPU8;
    const p = this.#pktIn;
    if (payload) for (let i = 0; i < len; i++) bytes[p + i] = payload[i]!;
    else bytes[p] = this.#plcToc;
    const n = h._decode(p, len, this.#pcmOut);
    if (n < 0) {
      this.decodeErrors++;
      return 0;
    }
    const heap = this.#native.HEAPU16;
    const base = this.#pcmOut >> 1;
    const m = n < room ? n : room;
    for (let i = 0, j = base; i < m; i++, j += 2) out[at + i] = ((heap[j]! | (heap[j + 1]! << 8)) << 16) >> 16;
    return m;
  }

  /**
   * Packet loss concealment (libopus PLC): decodes TOC-only packets in the last packet's mode and
   * frame size until `samples` are filled. Before any packet arrived it yields silence.
   */
  conceal(out: Int16Array, samples: number): number {
    if (this.#plcToc < 0) {
      out.fill(0, 0, samples);
      return samples;
    }
    let done = 0;
    while (done < samples) {
      const n = this.#decodeRaw(null, 1, out, done, samples - done);
      if (n === 0) {
        out.fill(0, done, samples);
        break;
      }
      done += n;
    }
    return samples;
  }

  /**
   * Recover the frame lost just before `nextPayload` (RFC 6716 2.1.7 LBRR). See the module note:
   * with this libopus build it conceals the lost frame's duration with PLC. Call decode() on
   * `nextPayload` afterwards as usual.
   */
  decodeFec(nextPayload: Uint8Array, out: Int16Array): number {
    const samples = nextPayload.length > 0 ? opusFrameSamples(nextPayload[0]!, this.sampleRate) : 0;
    return this.conceal(
      out,
      samples > 0 && samples <= out.length ? samples : Math.min(out.length, this.sampleRate / 50),
    );
  }

  close(): void {
    const h = this.#handler;
    if (!h) return;
    this.#handler = undefined;
    const n = this.#native;
    n.OpusScriptHandler.destroy_handler(h);
    n._free(this.#pcmIn);
    n._free(this.#pktOut);
    n._free(this.#pktIn);
    n._free(this.#pcmOut);
  }
}
