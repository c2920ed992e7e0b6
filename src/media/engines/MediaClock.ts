/** Something driven by the worker's 20 ms media clock (players, mixers, recorders, timeouts). */
export interface Clocked {
  onTick(nowMs: number): void;
}

export const FRAME_MS = 20;

/** Tick lateness histogram: 0.1 ms bins up to 100 ms, the last bin holds everything later. */
const LATE_BIN_MS = 0.1;
const LATE_BINS = 1001;
/** Upper bounds (ms) of the cumulative lateness histogram exported to Prometheus; multiples of LATE_BIN_MS. */
export const LATE_HISTOGRAM_BOUNDS_MS: readonly number[] = [0.5, 1, 2, 5, 10, 20, 50, 100];

/**
 * The worker's media clock: one timer for everything that produces or consumes audio frames.
 * Ticks are scheduled against an absolute timeline (start + n x 20 ms), so timer lateness does
 * not accumulate into drift; a tick that is very late is caught up by running the missed ticks
 * (bounded) rather than by stretching time. The timer only runs while something subscribes.
 */
export class MediaClock {
  readonly #subscribers = new Set<Clocked>();
  #timer: NodeJS.Timeout | null = null;
  #next = 0;
  // True while #run calls subscribers: it reschedules itself, so add() must not start a second timer.
  #running = false;
  ticks = 0;
  /** Lateness statistics for metrics: how late ticks ran, in ms. */
  lateMax = 0;
  lateSum = 0;
  /** Ticks per lateness bin since the last resetLateness() (for percentiles). */
  readonly #lateBins = new Uint32Array(LATE_BINS);
  #lateCount = 0;
  /** Ticks per LATE_HISTOGRAM_BOUNDS_MS bucket (not cumulative across buckets) of the windows already reset. */
  readonly #lateFolded = new Float64Array(LATE_HISTOGRAM_BOUNDS_MS.length);

  add(c: Clocked): void {
    this.#subscribers.add(c);
    if (this.#timer === null && !this.#running) {
      this.#next = performance.now() + FRAME_MS;
      this.#schedule();
    }
  }

  delete(c: Clocked): void {
    this.#subscribers.delete(c);
    if (this.#subscribers.size === 0 && this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  get size(): number {
    return this.#subscribers.size;
  }

  #schedule(): void {
    const delay = Math.max(0, this.#next - performance.now());
    this.#timer = setTimeout(this.#run, delay);
  }

  readonly #run = (): void => {
    let now = performance.now();
    // Run every tick that is due, at most 5 at once (100 ms): beyond that, skip ahead.
    let runs = 0;
    this.#running = true;
    while (now >= this.#next && runs < 5) {
      const late = now - this.#next;
      if (late > this.lateMax) this.lateMax = late;
      this.lateSum += late;
      const bin = Math.floor(late / LATE_BIN_MS);
      this.#lateBins[bin < LATE_BINS ? bin : LATE_BINS - 1]!++;
      this.#lateCount++;
      this.ticks++;
      for (const c of this.#subscribers) {
        try {
          c.onTick(this.#next);
        } catch {
          // one faulty subscriber must not stop the clock for the others
        }
      }
      this.#next += FRAME_MS;
      runs++;
      now = performance.now();
    }
    this.#running = false;
    if (now >= this.#next) this.#next = now + FRAME_MS;
    if (this.#subscribers.size > 0) this.#schedule();
    else this.#timer = null;
  };

  /**
   * Tick lateness at percentile `p` (0..100) since the last resetLateness(), ms, to the 0.1 ms
   * bin's upper edge (100 ms stands for anything later); 0 without ticks.
   */
  latePercentile(p: number): number {
    if (this.#lateCount === 0) return 0;
    const rank = Math.ceil((p / 100) * this.#lateCount);
    let seen = 0;
    for (let i = 0; i < LATE_BINS; i++) {
      seen += this.#lateBins[i]!;
      if (seen >= rank) return (i + 1) * LATE_BIN_MS;
    }
    return LATE_BINS * LATE_BIN_MS;
  }

  /**
   * Lateness as a Prometheus histogram, cumulative since the clock started: counts[i] is the
   * number of ticks at most boundsMs[i] late (to the 0.1 ms bin's upper edge, as the
   * percentiles); ticks later than the last bound count only in `count`. Read at scrape time.
   */
  lateHistogram(): { boundsMs: number[]; counts: number[]; sumMs: number; count: number } {
    const counts: number[] = [];
    let below = 0;
    let bin = 0;
    for (let b = 0; b < LATE_HISTOGRAM_BOUNDS_MS.length; b++) {
      const lastBin = Math.round(LATE_HISTOGRAM_BOUNDS_MS[b]! / LATE_BIN_MS) - 1;
      for (; bin <= lastBin && bin < LATE_BINS - 1; bin++) below += this.#lateBins[bin]!;
      below += this.#lateFolded[b]!;
      counts.push(below);
    }
    return { boundsMs: [...LATE_HISTOGRAM_BOUNDS_MS], counts, sumMs: this.lateSum, count: this.ticks };
  }

  /** Start a new lateness window (lateMax and the percentiles); the histogram keeps its counts. */
  resetLateness(): void {
    let bin = 0;
    for (let b = 0; b < LATE_HISTOGRAM_BOUNDS_MS.length; b++) {
      const lastBin = Math.round(LATE_HISTOGRAM_BOUNDS_MS[b]! / LATE_BIN_MS) - 1;
      let n = 0;
      for (; bin <= lastBin && bin < LATE_BINS - 1; bin++) n += this.#lateBins[bin]!;
      this.#lateFolded[b]! += n;
    }
    this.lateMax = 0;
    this.#lateBins.fill(0);
    this.#lateCount = 0;
  }

  close(): void {
    this.#subscribers.clear();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
