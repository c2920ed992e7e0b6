/**
 * RFC 4733 telephone-event receiver: turns a stream of event packets into one `DtmfEvent` per key
 * press (RFC 4733 section 2.5.2, receiver procedures).
 *
 * Payload format (section 2.3):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     event     |E|R| volume    |          duration             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A press is identified by (SSRC, RTP timestamp) (section 2.5.2.1): every update and the usual
 * three retransmitted end packets carry the same timestamp, so they fold into one press. The press
 * starts on its first packet (a zero duration is fine), grows with each update and ends on the
 * first packet with the E bit; later copies are counted as duplicates. A packet with a newer
 * timestamp ends any press still open (its end packets were lost). A press whose end packets are
 * all lost and that is not followed by another one is ended by `tick()` after `timeoutMs` without
 * packets. Long events (section 2.5.1.3) are sent as segments of at most 0xFFFF clock units, each
 * with a new timestamp = previous + previous segment length and no marker bit; they are joined into
 * one press. Events 16-255 (tones, line events) are not DTMF: counted and ignored.
 *
 * Pure: no sockets, no timers. Per packet it allocates nothing except the reported event.
 */
import { tsDiff } from '../../common/seq.ts';
import type { DtmfDigit, DtmfEvent } from './DtmfEvent.ts';
import { DTMF_DIGITS } from './DtmfEvent.ts';

export interface Rfc4733ReceiverOptions {
  /** RTP clock rate of the telephone-event payload type (8000, or 48000 for telephone-event/48000). */
  clockRate?: number;
  /**
   * Clock of the packets' RTP timestamps: the audio codec's. Events share the audio stream, so a
   * peer with telephone-event/8000 next to opus/48000 stamps events on the 48 kHz timeline while
   * durations count 8 kHz units. Default: `clockRate`.
   */
  timestampRate?: number;
  /** Close a press whose end packets were all lost after this long without packets. */
  timeoutMs?: number;
  /** Called once per press, when it ends. */
  onDigit?: (event: DtmfEvent) => void;
  /** Called when a press starts (first packet), before its duration is known. */
  onDigitStart?: (digit: DtmfDigit, startMs: number) => void;
}

export interface Rfc4733ReceiverStats {
  packets: number;
  /** Payload shorter than 4 bytes. */
  malformed: number;
  /** Valid events 16-255: not DTMF, ignored. */
  nonDigit: number;
  /** Packets of a press already ended (retransmitted end packets, late updates). */
  duplicates: number;
  /** Packets with a timestamp older than the current press. */
  late: number;
  /** Presses ended by the timeout because no end packet arrived. */
  timeouts: number;
  /** Presses reported. */
  digits: number;
}

/** Largest value of the 16-bit duration field: the end of a long-duration segment (2.5.1.3). */
const MAX_SEGMENT = 0xffff;
/** Bound on the SSRCs tracked at once; a stream normally has one. */
const MAX_SSRCS = 8;

class PressState {
  ssrc = 0;
  /** RTP timestamp of the current segment. */
  timestamp = 0;
  code = -1;
  volume = 0;
  /** Clock units of the segments before the current one (long-duration events). */
  base = 0;
  /** Largest duration seen in the current segment. */
  duration = 0;
  open = false;
  /** true once any packet was seen for this SSRC, so `timestamp` is meaningful. */
  seen = false;
  startMs = 0;
  lastArrivalMs = 0;
}

export class Rfc4733Receiver {
  readonly clockRate: number;
  readonly timestampRate: number;
  /** Duration units per timestamp unit. */
  readonly #tsScale: number;
  readonly timeoutMs: number;
  readonly #onDigit: ((event: DtmfEvent) => void) | undefined;
  readonly #onDigitStart: ((digit: DtmfDigit, startMs: number) => void) | undefined;
  readonly #states: PressState[] = [];
  readonly #stats: Rfc4733ReceiverStats = {
    packets: 0,
    malformed: 0,
    nonDigit: 0,
    duplicates: 0,
    late: 0,
    timeouts: 0,
    digits: 0,
  };

  constructor(options: Rfc4733ReceiverOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.timestampRate = options.timestampRate ?? this.clockRate;
    if (!(this.timestampRate > 0)) throw new RangeError(`timestampRate must be positive, got ${this.timestampRate}`);
    this.#tsScale = this.clockRate / this.timestampRate;
    this.timeoutMs = options.timeoutMs ?? 300;
    if (!(this.clockRate > 0)) throw new RangeError(`clockRate must be positive, got ${this.clockRate}`);
    this.#onDigit = options.onDigit;
    this.#onDigitStart = options.onDigitStart;
  }

  get stats(): Readonly<Rfc4733ReceiverStats> {
    return this.#stats;
  }

  /**
   * Feed one telephone-event RTP packet (header fields already parsed by the caller; `seq` is
   * accepted for symmetry with the RTP layer but ordering is decided by the timestamp, as the
   * RFC prescribes). Returns the number of presses this packet ended (0, 1 or 2).
   */
  push(ssrc: number, seq: number, timestamp: number, marker: boolean, payload: Uint8Array, arrivalMs: number): number {
    void seq;
    this.#stats.packets++;
    if (payload.length < 4) {
      this.#stats.malformed++;
      return 0;
    }
    const code = payload[0]!;
    if (code > 15) {
      this.#stats.nonDigit++;
      return 0;
    }
    const end = (payload[1]! & 0x80) !== 0;
    const volume = payload[1]! & 0x3f;
    const duration = (payload[2]! << 8) | payload[3]!;
    const st = this.#state(ssrc >>> 0);
    let ended = 0;

    if (st.seen) {
      const dTs = tsDiff(timestamp >>> 0, st.timestamp);
      // The timestamp step in duration units (segments of long events are measured in both).
      const d = this.#tsScale === 1 ? dTs : Math.round(dTs * this.#tsScale);
      if (d === 0) {
        if (!st.open) {
          this.#stats.duplicates++;
          return 0;
        }
        if (duration > st.duration) st.duration = duration;
        st.lastArrivalMs = arrivalMs;
        if (end) ended += this.#finish(st);
        return ended;
      }
      if (d < 0) {
        this.#stats.late++;
        return 0;
      }
      // Section 2.5.1.3: the next segment of a long event starts where the previous one ended
      // (timestamp + 0xFFFF), same event, no marker; it continues the press instead of starting one.
      if (st.open && !marker && code === st.code && d >= st.duration && d <= MAX_SEGMENT) {
        st.base += d;
        st.timestamp = timestamp >>> 0;
        st.duration = duration;
        st.lastArrivalMs = arrivalMs;
        if (end) ended += this.#finish(st);
        return ended;
      }
      // A newer press: whatever is still open lost its end packets.
      if (st.open) ended += this.#finish(st);
    }

    st.seen = true;
    st.open = true;
    st.timestamp = timestamp >>> 0;
    st.code = code;
    st.volume = volume;
    st.base = 0;
    st.duration = duration;
    st.startMs = arrivalMs;
    st.lastArrivalMs = arrivalMs;
    if (this.#onDigitStart !== undefined) this.#onDigitStart(DTMF_DIGITS[code] as DtmfDigit, arrivalMs);
    if (end) ended += this.#finish(st);
    return ended;
  }

  /** Drive the timeout from the media clock; returns the number of presses it ended. */
  tick(nowMs: number): number {
    let ended = 0;
    for (let i = 0; i < this.#states.length; i++) {
      const st = this.#states[i]!;
      if (st.open && nowMs - st.lastArrivalMs >= this.timeoutMs) {
        this.#stats.timeouts++;
        ended += this.#finish(st);
      }
    }
    return ended;
  }

  /** Forget all state (new remote stream after a re-INVITE). Stats are kept. */
  reset(): void {
    this.#states.length = 0;
  }

  #finish(st: PressState): number {
    st.open = false;
    this.#stats.digits++;
    if (this.#onDigit !== undefined) {
      this.#onDigit({
        digit: DTMF_DIGITS[st.code] as DtmfDigit,
        durationMs: ((st.base + st.duration) * 1000) / this.clockRate,
        startMs: st.startMs,
        source: 'rfc4733',
        volume: st.volume,
      });
    }
    return 1;
  }

  #state(ssrc: number): PressState {
    for (let i = 0; i < this.#states.length; i++) {
      const st = this.#states[i]!;
      if (st.ssrc === ssrc) return st;
    }
    // A new SSRC (once per stream): reuse the slot of an idle one when the table is full.
    let st: PressState | undefined;
    if (this.#states.length >= MAX_SSRCS) {
      for (let i = 0; i < this.#states.length; i++) {
        if (!this.#states[i]!.open) {
          st = this.#states[i]!;
          break;
        }
      }
      st ??= this.#states[0]!;
      st.open = false;
    } else {
      st = new PressState();
      this.#states.push(st);
    }
    st.ssrc = ssrc;
    st.seen = false;
    return st;
  }
}

/** Parsed form of the 4-byte payload, for tools and tests (allocates; not for the hot path). */
export interface Rfc4733Payload {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

/** Decode an RFC 4733 payload (section 2.3); undefined when shorter than 4 bytes. */
export function parseRfc4733Payload(payload: Uint8Array): Rfc4733Payload | undefined {
  if (payload.length < 4) return undefined;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}
