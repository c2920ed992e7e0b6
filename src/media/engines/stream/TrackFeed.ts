import { Resampler } from '../../dsp/Resampler.ts';

/** Receives one 20 ms chunk of a track at the stream's rate (valid during the call only). */
export type ChunkSink = (pcm: Int16Array, nowMs: number) => void;

/**
 * One track of a stream (the caller's audio, or what is sent to the caller): PCM at the
 * endpoint's rate, as it comes (a packet's worth on arrival, or a frame per tick), resampled to
 * the stream's rate and cut into 20 ms chunks, each handed to the sink at once. Preallocated; a
 * codec change (another rate) makes a new resampler, nothing per frame.
 */
export class TrackFeed {
  readonly #streamRate: number;
  readonly #chunk: Int16Array;
  #fill = 0;
  #resampler: Resampler | null = null;
  #scratch = new Int16Array(2048);
  readonly #sink: ChunkSink;

  constructor(streamRate: number, sink: ChunkSink) {
    this.#streamRate = streamRate;
    this.#chunk = new Int16Array(streamRate / 50);
    this.#sink = sink;
  }

  push(pcm: Int16Array, rate: number, nowMs: number): void {
    let input = pcm;
    let n = pcm.length;
    if (rate !== this.#streamRate) {
      let r = this.#resampler;
      if (r === null || r.fromRate !== rate) {
        r = new Resampler(rate, this.#streamRate);
        this.#resampler = r;
      }
      const need = Math.ceil((n * this.#streamRate) / rate) + 2;
      if (this.#scratch.length < need) this.#scratch = new Int16Array(need);
      n = r.process(pcm, this.#scratch);
      input = this.#scratch;
    }
    const chunk = this.#chunk;
    let i = 0;
    while (i < n) {
      const take = Math.min(chunk.length - this.#fill, n - i);
      const fill = this.#fill;
      for (let k = 0; k < take; k++) chunk[fill + k] = input[i + k]!;
      this.#fill = fill + take;
      i += take;
      if (this.#fill === chunk.length) {
        this.#fill = 0;
        this.#sink(chunk, nowMs);
      }
    }
  }
}
