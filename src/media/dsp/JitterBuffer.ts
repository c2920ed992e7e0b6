import { seqDiff, tsDiff } from '../../common/seq.ts';

/** get(): a frame is due but missing (lost or not yet arrived): the caller conceals it. */
export const JB_LOST = -1;
/** get(): nothing to play (not started, or the sender paused, e.g. DTX): the caller plays silence. */
export const JB_EMPTY = -2;

export interface JitterBufferOptions {
  /** RTP clock rate of the stream (8000 for G.711 and G.722, 48000 for Opus). */
  clockRate: number;
  /** Duration of one frame and of one get() call, ms. Default 20. */
  frameMs?: number;
  /** Ring slots, a power of two (frames held at most). Default 64 (1.28 s of 20 ms frames). */
  capacity?: number;
  /** Largest payload stored, bytes. Default 1500. */
  maxPayload?: number;
  /** Bounds of the adaptive playout delay, ms. Defaults 20 and 200. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive underrun frames concealed before the stream counts as paused. Default 5. */
  maxConcealFrames?: number;
}

/** Counters, read when formatted (never per packet). */
export interface JitterBufferStats {
  received: number;
  /** Arrived after their playout time had passed. */
  late: number;
  /** Sequence numbers that were due and never arrived in time. */
  lost: number;
  /** get() calls answered JB_LOST (lost frames and underruns): frames the caller concealed. */
  concealed: number;
  duplicates: number;
  /** Frames thrown away to shrink the delay, or payloads too large. */
  discarded: number;
  /** Restarts on a large sequence jump (new sender, long gap). */
  resets: number;
}

const EMPTY_SLOT = -1;
const CONSUMED_SLOT = -2;
/** Frames of get() calls over which the buffer depth is watched before shrinking it. */
const SHRINK_WINDOW = 50;
/** How fast the delay peak decays towards the current jitter, ms per received packet. */
const PEAK_DECAY_MS = 0.2;
/** How fast the transit floor creeps up (sender clock slower than ours), ms per packet. */
const FLOOR_CREEP_MS = 0.002;

/**
 * An adaptive jitter buffer for one RTP stream (RFC 3550): payloads are copied into a
 * preallocated ring indexed by `seq & mask` and handed out one frame per media clock tick in
 * sequence order.
 *
 * Delay: each packet's relative transit delay (arrival time minus RTP timestamp, both in ms, RFC
 * 3550 6.4.1) is measured against the lowest transit seen; the target playout delay follows the
 * peak of that relative delay (rising at once, decaying slowly), clamped to [minDelayMs,
 * maxDelayMs]. Playout starts target ms after the first packet of a talkspurt. When the frame
 * due is missing (an underrun, or a gap with less than the target buffered behind it) one frame
 * is concealed without advancing, which grows the delay by a frame; a gap with the target
 * buffered behind it is declared lost and skipped. When the buffered depth stays above target for a second, one frame
 * is discarded, which shrinks it. Also kept: the RFC 3550 A.8 interarrival jitter, for stats.
 *
 * Pure: no timers, no sockets; allocation-free after construction.
 */
export class JitterBuffer {
  readonly clockRate: number;
  readonly frameMs: number;
  readonly capacity: number;
  readonly maxPayload: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly stats: JitterBufferStats = {
    received: 0,
    late: 0,
    lost: 0,
    concealed: 0,
    duplicates: 0,
    discarded: 0,
    resets: 0,
  };

  readonly #mask: number;
  readonly #ring: Uint8Array;
  readonly #lengths: Int32Array;
  readonly #seqs: Int32Array;
  readonly #maxConceal: number;

  #started = false;
  #playing = false;
  #startAtMs = 0;
  #playSeq = 0;
  #highestSeq = 0;
  #misses = 0;
  // delay estimation
  #haveTransit = false;
  #lastTs = 0;
  #extTsMs = 0;
  #lastArrivalMs = 0;
  #floor = 0;
  #peak = 0;
  #jitterMs = 0;
  // shrink window
  #windowCount = 0;
  #windowMinDepth = 0;

  constructor(opts: JitterBufferOptions) {
    const capacity = opts.capacity ?? 64;
    if (!(capacity >= 4 && (capacity & (capacity - 1)) === 0 && capacity <= 32768)) {
      throw new RangeError(`jitter buffer capacity ${capacity} must be a power of two in [4, 32768]`);
    }
    if (!(opts.clockRate > 0)) throw new RangeError(`clock rate ${opts.clockRate} must be positive`);
    this.clockRate = opts.clockRate;
    this.frameMs = opts.frameMs ?? 20;
    this.capacity = capacity;
    this.maxPayload = opts.maxPayload ?? 1500;
    this.minDelayMs = opts.minDelayMs ?? 20;
    this.maxDelayMs = Math.max(this.minDelayMs, opts.maxDelayMs ?? 200);
    this.#maxConceal = opts.maxConcealFrames ?? 5;
    this.#mask = capacity - 1;
    this.#ring = new Uint8Array(capacity * this.maxPayload);
    this.#lengths = new Int32Array(capacity).fill(EMPTY_SLOT);
    this.#seqs = new Int32Array(capacity).fill(-1);
  }

  /** Current target playout delay, ms, in [minDelayMs, maxDelayMs]. */
  get targetDelayMs(): number {
    const t = this.#peak + this.frameMs / 2;
    return t < this.minDelayMs ? this.minDelayMs : t > this.maxDelayMs ? this.maxDelayMs : t;
  }

  /** RFC 3550 A.8 interarrival jitter, ms. */
  get jitterMs(): number {
    return this.#jitterMs;
  }

  /** Frames held from the next one due to the newest received (0 when empty). */
  get depth(): number {
    if (!this.#started) return 0;
    const d = seqDiff(this.#highestSeq, this.#playSeq) + 1;
    return d > 0 ? d : 0;
  }

  /** Whether frames are being played out (false before the first packet and while paused). */
  get playing(): boolean {
    return this.#playing;
  }

  /**
   * Stores a copy of `payload`. Returns false when it was not kept (late, duplicate, too large).
   * `arrivalMs` is the receive time on the same clock as get()'s `nowMs`.
   */
  put(seq: number, ts: number, payload: Uint8Array, arrivalMs: number): boolean {
    const stats = this.stats;
    if (payload.length > this.maxPayload) {
      stats.discarded++;
      return false;
    }
    stats.received++;
    this.#measure(ts, arrivalMs);
    seq &= 0xffff;
    if (!this.#started) {
      this.#begin(seq, arrivalMs);
    } else {
      let d = seqDiff(seq, this.#playSeq);
      if (d < 0 && !this.#playing && d > -this.capacity && seqDiff(this.#highestSeq, seq) < this.capacity) {
        // Reordered ahead of the first packet of a talkspurt, before playout began: start earlier.
        this.#playSeq = seq;
        d = 0;
      }
      if (d < 0) {
        if (
          d > -this.capacity &&
          this.#seqs[seq & this.#mask] === seq &&
          this.#lengths[seq & this.#mask] === CONSUMED_SLOT
        )
          stats.duplicates++;
        else if (d > -this.capacity) stats.late++;
        else this.#restart(seq, ts, arrivalMs); // far behind: a new stream
        if (d > -this.capacity) return false;
      } else if (d >= this.capacity) {
        this.#restart(seq, ts, arrivalMs); // a jump beyond what the ring holds
      } else if (!this.#playing && this.#misses > 0) {
        // First packet after a pause (DTX, or a burst of loss long enough to stop playout):
        // buffer again before playing, from this packet on. Frames skipped over never arrived;
        // concealing them all now would only add their duration to the delay.
        if (d > 0) {
          stats.lost += d;
          this.#playSeq = seq;
          d = 0;
        }
        this.#startAtMs = arrivalMs + this.targetDelayMs;
        this.#misses = 0;
      }
    }
    const idx = seq & this.#mask;
    if (this.#seqs[idx] === seq && this.#lengths[idx]! >= 0) {
      stats.duplicates++;
      return false;
    }
    this.#ring.set(payload, idx * this.maxPayload);
    this.#lengths[idx] = payload.length;
    this.#seqs[idx] = seq;
    if (seqDiff(seq, this.#highestSeq) > 0) this.#highestSeq = seq;
    return true;
  }

  #begin(seq: number, arrivalMs: number): void {
    this.#started = true;
    this.#playing = false;
    this.#playSeq = seq;
    this.#highestSeq = seq;
    this.#misses = 0;
    this.#startAtMs = arrivalMs + this.targetDelayMs;
    this.#windowCount = 0;
  }

  #restart(seq: number, ts: number, arrivalMs: number): void {
    this.stats.resets++;
    this.#lengths.fill(EMPTY_SLOT);
    this.#seqs.fill(-1);
    // The delay of another stream says nothing about this one: measure afresh.
    this.#haveTransit = false;
    this.#peak = 0;
    this.#measure(ts, arrivalMs);
    this.#begin(seq, arrivalMs);
  }

  /** Relative transit delay and RFC 3550 A.8 jitter, from the RTP timestamp. */
  #measure(ts: number, arrivalMs: number): void {
    if (!this.#haveTransit) {
      this.#haveTransit = true;
      this.#lastTs = ts >>> 0;
      this.#extTsMs = 0;
      this.#lastArrivalMs = arrivalMs;
      this.#floor = arrivalMs;
      return;
    }
    const dTsMs = (tsDiff(ts >>> 0, this.#lastTs) * 1000) / this.clockRate;
    const dArrival = arrivalMs - this.#lastArrivalMs;
    if (dTsMs > -60_000 && dTsMs < 60_000) {
      this.#lastTs = ts >>> 0;
      this.#extTsMs += dTsMs;
      this.#lastArrivalMs = arrivalMs;
      const dev = dArrival - dTsMs;
      this.#jitterMs += ((dev < 0 ? -dev : dev) - this.#jitterMs) / 16;
    } else {
      // A timestamp jump (new stream): measure afresh.
      this.#haveTransit = false;
      this.#measure(ts, arrivalMs);
      return;
    }
    const transit = arrivalMs - this.#extTsMs;
    if (transit < this.#floor) this.#floor = transit;
    else this.#floor += FLOOR_CREEP_MS;
    const rel = transit - this.#floor;
    const decayed = this.#peak - PEAK_DECAY_MS;
    this.#peak = rel > decayed ? rel : decayed > 0 ? decayed : 0;
    if (this.#peak > this.maxDelayMs) this.#peak = this.maxDelayMs;
  }

  /**
   * The frame due at `nowMs`: copies its payload into `out` and returns its length, or JB_LOST
   * (conceal one frame) or JB_EMPTY (play silence). Call once per frame period.
   */
  get(out: Uint8Array, nowMs: number): number {
    if (!this.#started) return JB_EMPTY;
    if (!this.#playing) {
      if (this.#misses > 0 || nowMs < this.#startAtMs) return JB_EMPTY;
      this.#playing = true;
    }
    const stats = this.stats;
    const ahead = seqDiff(this.#highestSeq, this.#playSeq);
    if (ahead < 0) {
      // Underrun: nothing at or after the frame due has arrived. Conceal without advancing
      // (the delay grows by one frame); after a few, the sender paused: play silence.
      this.#misses++;
      if (this.#misses > this.#maxConceal) {
        this.#playing = false;
        return JB_EMPTY;
      }
      stats.concealed++;
      return JB_LOST;
    }
    this.#misses = 0;
    let seq = this.#playSeq;
    let idx = seq & this.#mask;
    if ((this.#seqs[idx] !== seq || this.#lengths[idx]! < 0) && ahead * this.frameMs < this.targetDelayMs) {
      // Missing while less than the target is buffered behind it: wait for it (stretch by one
      // concealed frame), which also grows the delay towards the target.
      stats.concealed++;
      return JB_LOST;
    }
    this.#watchDepth(ahead + 1);
    seq = this.#playSeq;
    idx = seq & this.#mask;
    this.#playSeq = (seq + 1) & 0xffff;
    if (this.#seqs[idx] !== seq || this.#lengths[idx]! < 0) {
      stats.lost++;
      stats.concealed++;
      return JB_LOST;
    }
    const len = this.#lengths[idx]!;
    const at = idx * this.maxPayload;
    const ring = this.#ring;
    for (let i = 0; i < len; i++) out[i] = ring[at + i]!; // no subarray view: allocation-free
    this.#lengths[idx] = CONSUMED_SLOT;
    return len;
  }

  /** Shrinks the delay by one frame when the depth stayed above target for a whole window. */
  #watchDepth(depth: number): void {
    if (this.#windowCount === 0 || depth < this.#windowMinDepth) this.#windowMinDepth = depth;
    const excessMs = (this.#windowMinDepth - 1) * this.frameMs - this.targetDelayMs;
    if (
      depth * this.frameMs > this.maxDelayMs + this.frameMs ||
      (++this.#windowCount >= SHRINK_WINDOW && excessMs >= this.frameMs)
    ) {
      const idx = this.#playSeq & this.#mask;
      if (this.#lengths[idx]! >= 0 && this.#seqs[idx] === this.#playSeq) {
        this.#lengths[idx] = CONSUMED_SLOT;
        this.stats.discarded++;
      }
      this.#playSeq = (this.#playSeq + 1) & 0xffff;
      this.#windowCount = 0;
    } else if (this.#windowCount >= SHRINK_WINDOW) {
      this.#windowCount = 0;
    }
  }

  /** Forget everything (a new stream); stats are kept. */
  reset(): void {
    this.#started = false;
    this.#playing = false;
    this.#misses = 0;
    this.#haveTransit = false;
    this.#peak = 0;
    this.#lengths.fill(EMPTY_SLOT);
    this.#seqs.fill(-1);
  }
}
