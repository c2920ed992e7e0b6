/** Thresholds of a TalkDetector. */
export interface TalkDetectorOptions {
  /** A frame at or above this level (dBFS) counts as talk. Default -35. */
  startDbfs?: number;
  /** A frame below this level counts as silence; between the two the run so far is broken. Default -45. */
  stopDbfs?: number;
  /** Talk must last this long (ms) before it is reported: clicks and short noises are not talk. Default 60. */
  attackMs?: number;
  /** Silence must last this long (ms) before the talk is reported over. Default 600. */
  releaseMs?: number;
}

export const TALK_DEFAULTS: Readonly<Required<TalkDetectorOptions>> = {
  startDbfs: -35,
  stopDbfs: -45,
  attackMs: 60,
  releaseMs: 600,
};

/** Level of `n` samples of `pcm` in dBFS (RMS against full scale); -100 for digital silence. */
export function frameDbfs(pcm: Int16Array, n = pcm.length): number {
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const v = pcm[i]!;
    energy += v * v;
  }
  return energy > 0 ? 10 * Math.log10(energy / n / (32768 * 32768)) : -100;
}

/**
 * Talker classifier with hysteresis, as Asterisk's TALK_DETECT and the conference mixer use it:
 * talk starts once frames stay at or above `startDbfs` for `attackMs`, and stops once they stay
 * below `stopDbfs` for `releaseMs`. Levels between the two thresholds break either run, so a
 * level hovering at one threshold does not flap.
 *
 * Pure and time-free: the caller feeds one level per frame with the frame's duration, and reads
 * positions on that audio timeline (ms of audio fed since the start), not wall-clock time.
 */
export class TalkDetector {
  readonly startDbfs: number;
  readonly stopDbfs: number;
  readonly attackMs: number;
  readonly releaseMs: number;
  talking = false;
  /** true for the one update() in which `talking` flipped. */
  changed = false;
  /** Audio fed so far, ms. */
  positionMs = 0;
  /** Where the current (or last) talk began: the start of its first loud frame, ms. */
  onsetMs = 0;
  /** Where the last loud frame of the current (or last) talk ended, ms. */
  lastLoudMs = 0;
  #aboveMs = 0;
  #belowMs = 0;
  #runStartMs = 0;

  constructor(opts: TalkDetectorOptions = {}) {
    this.startDbfs = opts.startDbfs ?? TALK_DEFAULTS.startDbfs;
    this.stopDbfs = Math.min(this.startDbfs, opts.stopDbfs ?? TALK_DEFAULTS.stopDbfs);
    this.attackMs = Math.max(0, opts.attackMs ?? TALK_DEFAULTS.attackMs);
    this.releaseMs = Math.max(0, opts.releaseMs ?? TALK_DEFAULTS.releaseMs);
  }

  /** Length of the current (or last) talk, from its onset to the end of its last loud frame. */
  get talkMs(): number {
    return Math.max(0, this.lastLoudMs - this.onsetMs);
  }

  /** Feeds one frame of level `db` lasting `frameMs`; returns true when `talking` flipped. */
  update(db: number, frameMs: number): boolean {
    const at = this.positionMs;
    this.positionMs = at + frameMs;
    this.changed = false;
    if (db >= this.startDbfs) {
      if (this.#aboveMs === 0) this.#runStartMs = at;
      this.#aboveMs += frameMs;
      this.#belowMs = 0;
      if (this.talking) this.lastLoudMs = this.positionMs;
    } else if (db < this.stopDbfs) {
      this.#belowMs += frameMs;
      this.#aboveMs = 0;
    } else {
      this.#aboveMs = 0;
      this.#belowMs = 0;
      // Between the thresholds the talk goes on (it is not silence yet).
      if (this.talking) this.lastLoudMs = this.positionMs;
    }
    if (!this.talking && this.#aboveMs > 0 && this.#aboveMs >= this.attackMs) {
      this.talking = true;
      this.changed = true;
      this.onsetMs = this.#runStartMs;
      this.lastLoudMs = this.positionMs;
    } else if (this.talking && this.#belowMs > 0 && this.#belowMs >= this.releaseMs) {
      this.talking = false;
      this.changed = true;
    }
    return this.changed;
  }

  /** Back to silence, timeline kept (no event: the caller decides what a reset means). */
  reset(): void {
    this.talking = false;
    this.changed = false;
    this.#aboveMs = 0;
    this.#belowMs = 0;
  }
}
