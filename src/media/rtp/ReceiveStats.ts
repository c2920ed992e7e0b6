/**
 * Reception statistics for one RTP source, as RFC 3550 appendix A specifies them:
 * A.1 sequence validation (probation, dropouts, misorder, 64K cycles, re-sync after a restart),
 * A.3 expected / lost / fraction lost per report interval, A.8 interarrival jitter, and the
 * LSR/DLSR bookkeeping of 6.4.1. Pure: the caller passes arrival times (monotonic milliseconds,
 * e.g. `performance.now()`) and nothing here reads a clock or allocates per packet.
 */
import { seqDiff, tsDiff } from '../../common/seq.ts';
import type { ReportBlock } from './rtcp.ts';
import { msToCompactNtp } from './ntp.ts';

/** A.1 constants. */
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
export const MIN_SEQUENTIAL = 2;
const RTP_SEQ_MOD = 0x10000;

/** What `onPacket()` made of a packet; a jitter buffer may drop DUPLICATE, PROBATION, BAD_JUMP. */
export const SeqStatus = {
  /** Newer than everything so far (gaps allowed up to MAX_DROPOUT). */
  IN_ORDER: 0,
  /** Older than the highest received, not seen before: reordered or late. */
  LATE: 1,
  /** Already received (still counted in `received`, as A.1 does: lost may go negative). */
  DUPLICATE: 2,
  /** Source not yet validated (A.1 probation): not counted. */
  PROBATION: 3,
  /** A jump of more than MAX_DROPOUT: not counted unless the next packet follows it. */
  BAD_JUMP: 4,
  /** Second packet after a large jump: the sender restarted; statistics re-based on it. */
  RESYNC: 5,
} as const;

export type SeqStatusCode = (typeof SeqStatus)[keyof typeof SeqStatus];

/**
 * Extended sequence numbers remembered to tell duplicates from late packets (power of two, well
 * above MAX_MISORDER); slots hold NaN when empty since extended numbers may be negative.
 */
const HISTORY = 1024;

export class ReceiveStats {
  readonly clockRate: number;

  #ssrc = 0;
  #started = false;

  // A.1 source state.
  #maxSeq = 0;
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #probation = MIN_SEQUENTIAL;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;

  // A.8 jitter, in timestamp units (floating point form of the reference code).
  #jitter = 0;
  #haveTransit = false;
  #lastArrivalUnits = 0;
  #lastTs = 0;

  // 6.4.1 LSR/DLSR.
  #lsr = 0;
  #lsrArrivalMs = 0;

  #octets = 0;
  #duplicates = 0;
  #late = 0;
  #badJumps = 0;
  #ssrcChanges = 0;
  #lastFractionLost = 0;
  readonly #history = new Float64Array(HISTORY).fill(NaN);

  constructor(clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError(`clock rate must be positive, got ${clockRate}`);
    this.clockRate = clockRate;
  }

  /**
   * Account one packet that passed `RtpPacket.validate()`. `arrivalMs` is a monotonic time in
   * milliseconds, `payloadBytes` the payload octets (header and padding excluded, as in SR).
   * A new SSRC restarts the statistics with probation (A.1: a new source).
   */
  onPacket(
    ssrc: number,
    seq: number,
    ts: number,
    payloadBytes: number,
    arrivalMs: number,
    timing = true,
  ): SeqStatusCode {
    if (!this.#started || ssrc !== this.#ssrc) {
      if (this.#started) this.#ssrcChanges++;
      this.#restart(ssrc, seq);
    }
    const status = this.#updateSeq(seq);
    if (status === SeqStatus.PROBATION || status === SeqStatus.BAD_JUMP) return status;
    this.#octets += payloadBytes;
    // After a re-sync the sender's timestamps restarted too: no transit to compare against.
    if (status === SeqStatus.RESYNC) this.#haveTransit = false;
    // RFC 4733 2.3: telephone-event packets of one event share a timestamp; they count for
    // loss (same sequence space) but carry no sampling instant to compare (timing = false).
    if (status !== SeqStatus.DUPLICATE && timing) this.#updateJitter(ts, arrivalMs);
    return status;
  }

  /** A.1: a source heard for the first time starts in probation, max_seq one before it. */
  #restart(ssrc: number, seq: number): void {
    this.#started = true;
    this.#ssrc = ssrc;
    this.#initSeq(seq);
    this.#maxSeq = (seq - 1) & 0xffff;
    this.#probation = MIN_SEQUENTIAL;
    this.#octets = 0;
    this.#duplicates = 0;
    this.#late = 0;
    this.#badJumps = 0;
    this.#lastFractionLost = 0;
    this.#jitter = 0;
    this.#haveTransit = false;
    this.#lsr = 0;
    this.#lsrArrivalMs = 0;
  }

  /** A.1 init_seq(). */
  #initSeq(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
    this.#history.fill(NaN);
  }

  /** A.1 update_seq(), plus duplicate detection over the last HISTORY extended numbers. */
  #updateSeq(seq: number): SeqStatusCode {
    // A.1's u_int16 udelta: the forward distance from max_seq, 0..65535.
    const udelta = (seq - this.#maxSeq) & 0xffff;
    let status: SeqStatusCode = SeqStatus.IN_ORDER;
    if (this.#probation > 0) {
      // The reference compares seq == max_seq + 1 without the 16-bit wrap; we wrap.
      if (seq === ((this.#maxSeq + 1) & 0xffff)) {
        this.#probation--;
        this.#maxSeq = seq;
        if (this.#probation === 0) {
          this.#initSeq(seq);
          this.#received++;
          this.#remember(seq);
          return SeqStatus.IN_ORDER;
        }
      } else {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#maxSeq = seq;
      }
      return SeqStatus.PROBATION;
    } else if (udelta < MAX_DROPOUT) {
      if (udelta === 0) {
        status = SeqStatus.DUPLICATE;
      } else {
        if (seq < this.#maxSeq) this.#cycles += RTP_SEQ_MOD;
        this.#maxSeq = seq;
      }
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.#badSeq) {
        // Two sequential packets after a big jump: the sender restarted without telling us.
        this.#initSeq(seq);
        status = SeqStatus.RESYNC;
      } else {
        this.#badSeq = (seq + 1) & (RTP_SEQ_MOD - 1);
        this.#badJumps++;
        return SeqStatus.BAD_JUMP;
      }
    } else {
      status = SeqStatus.LATE;
    }
    this.#received++;
    const ext = this.#cycles + this.#maxSeq + seqDiff(seq, this.#maxSeq);
    const slot = ext & (HISTORY - 1);
    if (status !== SeqStatus.RESYNC && this.#history[slot] === ext) {
      this.#duplicates++;
      return SeqStatus.DUPLICATE;
    }
    if (status === SeqStatus.DUPLICATE) {
      // udelta 0 but not in history cannot happen after a counted packet; treat as duplicate.
      this.#duplicates++;
      return status;
    }
    this.#history[slot] = ext;
    if (status === SeqStatus.LATE) this.#late++;
    return status;
  }

  #remember(seq: number): void {
    const ext = this.#cycles + seq;
    this.#history[ext & (HISTORY - 1)] = ext;
  }

  /**
   * A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si) in timestamp units, J += (|D| - J) / 16. Arrival is
   * converted to the codec clock; the RTP difference goes through the 32-bit wrap. Packets are
   * taken in arrival order (6.4.1), duplicates excluded as they carry no new timing.
   */
  #updateJitter(ts: number, arrivalMs: number): void {
    const arrivalUnits = (arrivalMs * this.clockRate) / 1000;
    if (this.#haveTransit) {
      let d = arrivalUnits - this.#lastArrivalUnits - tsDiff(ts, this.#lastTs);
      if (d < 0) d = -d;
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#haveTransit = true;
    this.#lastArrivalUnits = arrivalUnits;
    this.#lastTs = ts;
  }

  /**
   * A peer's SR arrived (6.4.1): remember the middle 32 bits of its NTP timestamp and when it
   * arrived, for LSR and DLSR in our next report block.
   */
  onSenderReport(ntpMiddle32: number, arrivalMs: number): void {
    this.#lsr = ntpMiddle32 >>> 0;
    this.#lsrArrivalMs = arrivalMs;
  }

  /** true once the source passed probation: report blocks and loss figures mean something. */
  get valid(): boolean {
    return this.#started && this.#probation === 0;
  }

  get ssrc(): number {
    return this.#ssrc;
  }

  /** Packets counted by A.1 (duplicates included, probation excluded). */
  get packets(): number {
    return this.#received;
  }

  /** Payload octets of the counted packets. */
  get octets(): number {
    return this.#octets;
  }

  get duplicates(): number {
    return this.#duplicates;
  }

  /** Packets older than the highest sequence number (reordered or late), duplicates excluded. */
  get late(): number {
    return this.#late;
  }

  /** Packets discarded as a jump of more than MAX_DROPOUT (A.1 bad_seq). */
  get badJumps(): number {
    return this.#badJumps;
  }

  /** How many times the source's SSRC changed (each change restarts the statistics). */
  get ssrcChanges(): number {
    return this.#ssrcChanges;
  }

  /** A.3 extended_max: cycles + highest sequence number. */
  get extendedHighestSeq(): number {
    return this.#cycles + this.#maxSeq;
  }

  /** A.3 expected = extended_max - base_seq + 1. */
  get expected(): number {
    return this.valid ? this.extendedHighestSeq - this.#baseSeq + 1 : 0;
  }

  /** A.3 cumulative lost = expected - received, unclamped; negative when duplicates arrive. */
  get cumulativeLost(): number {
    return this.expected - this.#received;
  }

  /** Lost as a percentage of expected since the start (0 when nothing is expected yet). */
  get lossPercent(): number {
    const expected = this.expected;
    const lost = this.cumulativeLost;
    return expected > 0 && lost > 0 ? (lost * 100) / expected : 0;
  }

  /** Fraction lost (0..255) of the last `makeReportBlock()`. */
  get lastFractionLost(): number {
    return this.#lastFractionLost;
  }

  /** Interarrival jitter in timestamp units (A.8). */
  get jitter(): number {
    return this.#jitter;
  }

  get jitterMs(): number {
    return (this.#jitter * 1000) / this.clockRate;
  }

  /**
   * Fill a report block (6.4.1, A.3) for this source and start a new report interval. Returns
   * null while the source is in probation. `nowMs` is on the same clock as `onSenderReport()`.
   */
  makeReportBlock(nowMs: number, out?: ReportBlock): ReportBlock | null {
    if (!this.valid) return null;
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    this.#expectedPrior = expected;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    this.#lastFractionLost = fraction;
    let lost = expected - this.#received;
    if (lost > 0x7fffff) lost = 0x7fffff;
    else if (lost < -0x800000) lost = -0x800000;
    const block = out ?? {
      ssrc: 0,
      fractionLost: 0,
      cumulativeLost: 0,
      extendedHighestSeq: 0,
      jitter: 0,
      lsr: 0,
      dlsr: 0,
    };
    block.ssrc = this.#ssrc;
    block.fractionLost = fraction > 255 ? 255 : fraction;
    block.cumulativeLost = lost;
    block.extendedHighestSeq = this.extendedHighestSeq >>> 0;
    block.jitter = Math.trunc(this.#jitter) >>> 0;
    block.lsr = this.#lsr;
    block.dlsr = this.#lsr === 0 ? 0 : msToCompactNtp(nowMs - this.#lsrArrivalMs);
    return block;
  }
}
