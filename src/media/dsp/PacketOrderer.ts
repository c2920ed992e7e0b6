import { seqDiff } from '../../common/seq.ts';

/** next(): the packet due is missing and declared lost (the caller conceals it); `seq` is set. */
export const ORDER_LOST = -1;
/** next(): nothing to hand out yet (the next packet has not arrived, within the reorder window). */
export const ORDER_WAIT = -2;

export interface PacketOrdererOptions {
  /** Ring slots, a power of two (packets held at most while a gap waits). Default 16. */
  capacity?: number;
  /** Largest payload stored, bytes. Default 1500. */
  maxPayload?: number;
  /** How long a gap is waited for once a later packet arrived, ms. Default 60. */
  reorderMs?: number;
  /**
   * Packets held behind a gap before it is declared lost at once. Default: the ring less one (a
   * burst after a stall may come in any order; the time bound is what normally decides).
   */
  reorderPackets?: number;
}

/** Counters, read when formatted (never per packet). */
export interface PacketOrdererStats {
  received: number;
  /** Arrived after their sequence number had been handed out or declared lost. */
  late: number;
  /** Sequence numbers declared lost (a gap past the reorder window). */
  lost: number;
  duplicates: number;
  /** Packets that came out of order and were put back in place. */
  reordered: number;
  /** Payloads too large. */
  discarded: number;
  /** Restarts on a large sequence jump (new sender). */
  resets: number;
}

const EMPTY = -1;

/**
 * Puts received RTP packets back in sequence order, with no playout delay: a packet is handed
 * out as soon as every one before it was, so an in-order stream passes straight through. A gap
 * is waited for only while a later packet is held, for at most `reorderMs` (measured from that
 * later packet's arrival) or `reorderPackets` held packets; then it is declared lost. Nothing is
 * ever dropped or inserted to adjust a delay: this is for consumers that follow the sender's
 * timeline (recordings, tone detection), not real-time playout (see JitterBuffer).
 *
 * Pure: no timers, no sockets; allocation-free after construction.
 */
export class PacketOrderer {
  readonly capacity: number;
  readonly maxPayload: number;
  readonly reorderMs: number;
  readonly reorderPackets: number;
  readonly stats: PacketOrdererStats = {
    received: 0,
    late: 0,
    lost: 0,
    duplicates: 0,
    reordered: 0,
    discarded: 0,
    resets: 0,
  };
  /** Of the packet last handed out (or declared lost): sequence number, timestamp, arrival. */
  seq = 0;
  ts = 0;
  arrivalMs = 0;
  /** Whether the packet last handed out began a new stream (first packet, or after a reset). */
  restarted = false;

  readonly #mask: number;
  readonly #ring: Uint8Array;
  readonly #lengths: Int32Array;
  readonly #seqs: Int32Array;
  readonly #tss: Float64Array;
  readonly #arrivals: Float64Array;
  #started = false;
  #restartPending = false;
  #next = 0;
  #held = 0;

  constructor(o: PacketOrdererOptions = {}) {
    const capacity = o.capacity ?? 16;
    if (!(capacity >= 4 && (capacity & (capacity - 1)) === 0 && capacity <= 4096)) {
      throw new RangeError(`orderer capacity ${capacity} must be a power of two in [4, 4096]`);
    }
    this.capacity = capacity;
    this.maxPayload = o.maxPayload ?? 1500;
    this.reorderMs = o.reorderMs ?? 60;
    this.reorderPackets = Math.min(capacity - 1, o.reorderPackets ?? capacity - 1);
    this.#mask = capacity - 1;
    this.#ring = new Uint8Array(capacity * this.maxPayload);
    this.#lengths = new Int32Array(capacity).fill(EMPTY);
    this.#seqs = new Int32Array(capacity).fill(-1);
    this.#tss = new Float64Array(capacity);
    this.#arrivals = new Float64Array(capacity);
  }

  /** Packets held (arrived, not yet handed out). */
  get held(): number {
    return this.#held;
  }

  /**
   * Stores a copy of `payload` (of its `length` bytes from `offset`: a received datagram needs no
   * view made per packet); false when it was not kept (late, duplicate, too large).
   */
  put(
    seq: number,
    ts: number,
    payload: Uint8Array,
    arrivalMs: number,
    offset = 0,
    length = payload.length - offset,
  ): boolean {
    const stats = this.stats;
    if (length > this.maxPayload) {
      stats.discarded++;
      return false;
    }
    stats.received++;
    seq &= 0xffff;
    if (!this.#started) {
      this.#restart(seq);
    } else {
      const d = seqDiff(seq, this.#next);
      if (d < 0) {
        if (d > -this.capacity * 4) {
          stats.late++;
          return false;
        }
        this.#restart(seq); // far behind: a new sender
      } else if (d >= this.capacity) {
        if (this.#held === 0 && d < 1000) {
          // A long burst of loss: nothing held, so skip over it.
          stats.lost += d;
          this.#next = seq;
        } else {
          this.#restart(seq); // far ahead: a new sender
        }
      } else if (d > 0) {
        stats.reordered++;
      }
    }
    const idx = seq & this.#mask;
    if (this.#seqs[idx] === seq && this.#lengths[idx]! >= 0) {
      stats.duplicates++;
      return false;
    }
    const ring = this.#ring;
    for (let i = 0, at = idx * this.maxPayload; i < length; i++, at++) ring[at] = payload[offset + i]!;
    this.#lengths[idx] = length;
    this.#seqs[idx] = seq;
    this.#tss[idx] = ts >>> 0;
    this.#arrivals[idx] = arrivalMs;
    this.#held++;
    return true;
  }

  #restart(seq: number): void {
    if (this.#started) this.stats.resets++;
    this.#started = true;
    this.#restartPending = true;
    this.#lengths.fill(EMPTY);
    this.#seqs.fill(-1);
    this.#held = 0;
    this.#next = seq;
  }

  /**
   * The next packet in order: copies its payload into `out` and returns its length (`seq`, `ts`,
   * `arrivalMs` describe it), or ORDER_LOST (the packet `seq` is declared lost), or ORDER_WAIT.
   * `force` declares a gap lost at once (the consumer is finishing: flush what arrived).
   */
  next(out: Uint8Array, nowMs: number, force = false): number {
    if (this.#held === 0) return ORDER_WAIT;
    const seq = this.#next;
    const idx = seq & this.#mask;
    if (this.#seqs[idx] === seq && this.#lengths[idx]! >= 0) {
      const len = this.#lengths[idx]!;
      const at = idx * this.maxPayload;
      const ring = this.#ring;
      for (let i = 0; i < len; i++) out[i] = ring[at + i]!; // no subarray view: allocation-free
      this.#lengths[idx] = EMPTY;
      this.#held--;
      this.seq = seq;
      this.ts = this.#tss[idx]!;
      this.arrivalMs = this.#arrivals[idx]!;
      this.restarted = this.#restartPending;
      this.#restartPending = false;
      this.#next = (seq + 1) & 0xffff;
      return len;
    }
    // A gap: wait for it while the reorder window allows.
    if (!force && this.#held < this.reorderPackets) {
      let oldest = Infinity;
      for (let i = 0; i < this.capacity; i++) {
        if (this.#lengths[i]! >= 0 && this.#arrivals[i]! < oldest) oldest = this.#arrivals[i]!;
      }
      if (nowMs - oldest < this.reorderMs) return ORDER_WAIT;
    }
    this.stats.lost++;
    this.seq = seq;
    this.#next = (seq + 1) & 0xffff;
    return ORDER_LOST;
  }

  /** Forget everything (a new stream); stats are kept. */
  reset(): void {
    this.#started = false;
    this.#restartPending = false;
    this.#lengths.fill(EMPTY);
    this.#seqs.fill(-1);
    this.#held = 0;
  }
}
