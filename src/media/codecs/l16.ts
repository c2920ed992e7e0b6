import type { Codec } from './Codec.ts';
import { G711Plc } from './G711Plc.ts';

/**
 * L16, RFC 3551 4.5.11: uncompressed 16-bit signed PCM in network byte order (big-endian).
 * Static PT 10/11 exist only for 44100 Hz stereo/mono, so telephony rates use dynamic PTs.
 */
export class L16Codec implements Codec {
  readonly name = 'l16';
  readonly clockRate: number;
  readonly sampleRate: number;
  readonly channels = 1;
  readonly #plc: G711Plc;

  constructor(rate: number = 8000) {
    if (rate !== 8000 && rate !== 16000 && rate !== 48000) throw new RangeError(`L16 rate ${rate} not supported`);
    this.clockRate = rate;
    this.sampleRate = rate;
    this.#plc = new G711Plc(rate);
  }

  encode(pcm: Int16Array, out: Uint8Array): number {
    const n = pcm.length;
    for (let i = 0, j = 0; i < n; i++, j += 2) {
      const s = pcm[i]!;
      out[j] = (s >> 8) & 0xff;
      out[j + 1] = s & 0xff;
    }
    return n * 2;
  }

  decode(payload: Uint8Array, out: Int16Array): number {
    const n = payload.length >> 1; // a trailing odd byte is not a sample
    for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = (payload[j]! << 8) | payload[j + 1]!;
    this.#plc.onGoodFrame(out, n);
    return n;
  }

  /** G.711 Appendix I waveform substitution, lengths scaled to the rate (see G711Plc). */
  conceal(out: Int16Array, samples: number): number {
    return this.#plc.conceal(out, samples);
  }

  close(): void {}
}
