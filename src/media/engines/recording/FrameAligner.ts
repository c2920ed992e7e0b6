/**
 * Received audio arrives per packet at the network's pace (any ptime, with jitter and loss);
 * a recording is written one 20 ms frame per media clock tick. The aligner sits between them: a
 * sample FIFO that hands out whole frames and answers a missing frame with silence, so that the
 * file's timeline is the clock's, whatever the network did (a lost packet is 20 ms of silence,
 * not a shorter file, and the two channels of a stereo recording stay in step).
 *
 * Depth adapts like a simple jitter buffer: an underrun leaves the queued samples in place (the
 * depth grows by the frame that came late, which then absorbs that much jitter), and once a
 * half-second, if more than one whole spare frame stayed queued the whole time, the excess is
 * dropped so latency does not creep up (one spare frame is kept: trimming it would trade every late
 * packet for a dropped frame and a silent one). A hard cap bounds the FIFO after a burst.
 * Nothing here allocates after construction.
 */
export class FrameAligner {
  readonly frameSamples: number;
  readonly #ring: Int16Array;
  #read = 0;
  #count = 0;
  /** Smallest depth (samples left after a read) seen in the current window. */
  #minDepth = Number.MAX_SAFE_INTEGER;
  #windowTicks = 0;
  readonly #window: number;
  readonly #cap: number;
  /** Ticks answered with silence because less than a frame was queued (once audio has arrived). */
  underruns = 0;
  #fed = false;
  /** Samples discarded to bound latency (burst beyond the cap, or depth trimmed). */
  droppedSamples = 0;

  /** `frameSamples` at the recording rate; `windowTicks` 25 = 500 ms; `capFrames` 10 = 200 ms. */
  constructor(frameSamples: number, o: { windowTicks?: number; capFrames?: number } = {}) {
    this.frameSamples = frameSamples;
    this.#window = o.windowTicks ?? 25;
    this.#cap = frameSamples * (o.capFrames ?? 10);
    this.#ring = new Int16Array(this.#cap + frameSamples * 6);
  }

  /** Samples queued. */
  get depth(): number {
    return this.#count;
  }

  /** Appends `length` samples of `pcm` (default all); beyond the cap the oldest are dropped. */
  write(pcm: Int16Array, length: number = pcm.length): void {
    const ring = this.#ring;
    const size = ring.length;
    let n = length;
    let from = 0;
    this.#fed = true;
    if (n > size) {
      from = n - size;
      this.droppedSamples += from;
      n = size;
    }
    let w = this.#read + this.#count;
    if (w >= size) w -= size;
    for (let i = 0; i < n; i++) {
      ring[w] = pcm[from + i]!;
      if (++w === size) w = 0;
    }
    this.#count += n;
    if (this.#count > this.#cap) this.#skip(this.#count - this.#cap);
  }

  /**
   * Fills `out` (frameSamples long) with the next frame, or silence when a whole frame is not
   * queued yet; returns whether it was audio.
   */
  read(out: Int16Array): boolean {
    const n = this.frameSamples;
    let audio = false;
    if (this.#count >= n) {
      const ring = this.#ring;
      const size = ring.length;
      let r = this.#read;
      for (let i = 0; i < n; i++) {
        out[i] = ring[r]!;
        if (++r === size) r = 0;
      }
      this.#read = r;
      this.#count -= n;
      audio = true;
    } else {
      out.fill(0, 0, n);
      if (this.#fed) this.underruns++;
    }
    if (this.#count < this.#minDepth) this.#minDepth = this.#count;
    if (++this.#windowTicks >= this.#window) {
      // More than one spare frame all window long: more slack than the jitter needs (a stall
      // that made the clock catch up several ticks at once): give back all but one frame.
      if (this.#minDepth >= 2 * n) this.#skip(this.#minDepth - n);
      this.#windowTicks = 0;
      this.#minDepth = Number.MAX_SAFE_INTEGER;
    }
    return audio;
  }

  /** Forget what is queued (pause: what was said meanwhile is not recorded later). */
  clear(): void {
    this.#read = 0;
    this.#count = 0;
  }

  #skip(n: number): void {
    this.#read = (this.#read + n) % this.#ring.length;
    this.#count -= n;
    this.droppedSamples += n;
  }
}
