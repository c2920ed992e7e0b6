import { Resampler } from '../../dsp/Resampler.ts';
import { FrameAligner } from './FrameAligner.ts';

/**
 * One channel of a recording: audio from a tap, converted to the recording's rate when the leg's
 * codec runs at another one (a bridge of G.711 and Opus, or a re-INVITE that changed codec), then
 * queued in a FrameAligner. The resampler and its buffer are created when the rate changes, not
 * per packet.
 */
export class ChannelInput {
  readonly rate: number;
  readonly aligner: FrameAligner;
  #resampler: Resampler | null = null;
  #scratch = new Int16Array(0);
  /** Packets at a rate we cannot convert (not 8/16/48 kHz): dropped, counted. */
  unsupported = 0;

  constructor(rate: number) {
    this.rate = rate;
    this.aligner = new FrameAligner(Math.round(rate / 50));
  }

  push(pcm: Int16Array, rate: number): void {
    if (rate === this.rate) {
      this.aligner.write(pcm);
      return;
    }
    let r = this.#resampler;
    if (r === null || r.fromRate !== rate) {
      try {
        r = new Resampler(rate, this.rate);
      } catch {
        this.unsupported++;
        return;
      }
      this.#resampler = r;
    }
    const need = Math.ceil((pcm.length * this.rate) / rate) + 1;
    if (this.#scratch.length < need) this.#scratch = new Int16Array(need * 2);
    const n = r.process(pcm, this.#scratch);
    this.aligner.write(this.#scratch, n);
  }
}
