/**
 * RFC 4733 telephone-event sender: produces the 4-byte event payloads for queued digits on the
 * media clock (RFC 4733 section 2.5.1, sender procedures).
 *
 * Per press: the first packet has the RTP marker bit (section 2.5.1.1); every packet of the press
 * carries the same RTP timestamp, the time the press began, which the caller owns; the duration
 * field grows with each update; updates go out every `updateMs` (section 2.5.1.2 suggests about
 * 50 ms), rounded to the media clock; the end packet (E bit, final duration) is sent three times
 * (section 2.5.1.4) on consecutive ticks, all with the same duration. Presses longer than 0xFFFF
 * clock units (8.2 s at 8 kHz, 1.37 s at 48 kHz) are split into segments (section 2.5.1.3): the
 * segment ends with duration 0xFFFF, and the next one starts with timestamp + 0xFFFF and no marker;
 * `timestampOffset` tells the caller which timestamp to use.
 *
 * Pure: no sockets, no timers. `next()` allocates nothing.
 */
import { ValidationError } from '../../common/errors.ts';
import { dtmfEventCode } from './DtmfEvent.ts';

export interface Rfc4733SenderOptions {
  /** RTP clock rate of the negotiated telephone-event payload type. */
  clockRate?: number;
  /** Media clock tick: `next()` is called once per tick. */
  ptimeMs?: number;
  /** Interval between duration updates (RFC 4733 2.5.1.2: about 50 ms). */
  updateMs?: number;
  /** Power level field: the tone would be at -volume dBm0 (0..63). */
  volume?: number;
  /** Default press duration. */
  durationMs?: number;
  /** Silence between two queued presses, after the last end packet. */
  gapMs?: number;
}

export interface Rfc4733Packet {
  payload: Uint8Array;
  marker: boolean;
  end: boolean;
  /** When to send it, from the start of the press. */
  offsetMs: number;
  /** Add to the press's first RTP timestamp (non-zero only in later segments of long presses). */
  timestampOffset: number;
}

/** Flags returned by `next()`: nothing to send this tick is 0. */
export const SEND = 1;
export const MARKER = 2;
export const END = 4;

const MAX_SEGMENT = 0xffff;
/** Three end packets in all (RFC 4733 2.5.1.4). */
const END_COPIES = 3;

interface Press {
  code: number;
  units: number;
}

export class Rfc4733Sender {
  static readonly SEND = SEND;
  static readonly MARKER = MARKER;
  static readonly END = END;

  readonly clockRate: number;
  readonly ptimeMs: number;
  readonly updateMs: number;
  readonly volume: number;
  readonly durationMs: number;
  readonly gapMs: number;

  readonly #unitsPerTick: number;
  readonly #ticksPerUpdate: number;
  readonly #gapTicks: number;
  readonly #queue: Press[] = [];

  // Current press. `#elapsed` counts clock units since the press began, `#segStart` where the
  // current segment began, `#tick` media ticks since the press began.
  #code = -1;
  #units = 0;
  #elapsed = 0;
  #segStart = 0;
  #tick = 0;
  #nextUpdateTick = 0;
  #endsSent = 0;
  #gapLeft = 0;
  #timestampOffset = 0;
  #newSegment = false;

  constructor(options: Rfc4733SenderOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.ptimeMs = options.ptimeMs ?? 20;
    this.updateMs = options.updateMs ?? 50;
    this.volume = options.volume ?? 10;
    this.durationMs = options.durationMs ?? 100;
    this.gapMs = options.gapMs ?? 60;
    if (!(this.clockRate > 0) || !(this.ptimeMs > 0) || !(this.updateMs > 0)) {
      throw new ValidationError('INVALID_DTMF_OPTIONS', 'clockRate, ptimeMs and updateMs must be positive');
    }
    if (!Number.isInteger(this.volume) || this.volume < 0 || this.volume > 63) {
      throw new ValidationError('INVALID_DTMF_OPTIONS', `volume must be an integer 0..63, got ${this.volume}`);
    }
    this.#unitsPerTick = Math.round((this.ptimeMs * this.clockRate) / 1000);
    // Updates no rarer than asked: 50 ms on a 20 ms clock is every 2 ticks (40 ms).
    this.#ticksPerUpdate = Math.max(1, Math.floor(this.updateMs / this.ptimeMs));
    this.#gapTicks = Math.max(0, Math.ceil(this.gapMs / this.ptimeMs));
  }

  /** Queue digits to send; throws ValidationError naming the first character that is not DTMF. */
  send(digits: string, durationMs: number = this.durationMs): void {
    if (!(durationMs > 0)) throw new ValidationError('INVALID_DTMF', `duration must be positive, got ${durationMs}`);
    const codes: number[] = [];
    for (const ch of digits) {
      const code = dtmfEventCode(ch);
      if (code < 0) throw new ValidationError('INVALID_DTMF', `'${ch}' is not a DTMF digit (0-9, *, #, A-D)`);
      codes.push(code);
    }
    // At least one tick of tone, so a very short press still has a start and an end.
    const units = Math.max(this.#unitsPerTick, Math.round((durationMs * this.clockRate) / 1000));
    for (const code of codes) this.#queue.push({ code, units });
  }

  /** true while a press, its end packets or the gap after it are pending. */
  get busy(): boolean {
    return this.#code >= 0 || this.#gapLeft > 0 || this.#queue.length > 0;
  }

  /** RTP timestamp offset (clock units) from the press's first timestamp for the last packet. */
  get timestampOffset(): number {
    return this.#timestampOffset;
  }

  /** Drop queued and current presses (barge-in, endpoint closing). */
  clear(): void {
    this.#queue.length = 0;
    this.#code = -1;
    this.#gapLeft = 0;
  }

  /**
   * Advance one media tick. When a packet is due, writes its 4-byte payload at `out[offset]` and
   * returns SEND plus MARKER (first packet of a press: the caller picks the press's RTP timestamp
   * now) and/or END; returns 0 on ticks with nothing to send.
   */
  next(out: Uint8Array, offset = 0): number {
    if (this.#code < 0) {
      if (this.#gapLeft > 0) {
        this.#gapLeft--;
        return 0;
      }
      const press = this.#queue.shift();
      if (press === undefined) return 0;
      this.#code = press.code;
      this.#units = press.units;
      this.#elapsed = 0;
      this.#segStart = 0;
      this.#tick = 0;
      this.#nextUpdateTick = 0;
      this.#endsSent = 0;
      this.#newSegment = false;
    }

    const tick = this.#tick++;
    if (this.#endsSent > 0) {
      // Retransmissions of the end packet: identical payload, same timestamp.
      this.#write(out, offset, true, this.#elapsed - this.#segStart);
      if (++this.#endsSent >= END_COPIES) this.#finishPress();
      return SEND | END;
    }

    // Duration covered once this tick's audio has played.
    let elapsed = this.#elapsed + this.#unitsPerTick;
    if (elapsed >= this.#units) elapsed = this.#units;
    let flags = 0;

    if (elapsed - this.#segStart > MAX_SEGMENT) {
      // Section 2.5.1.3: close this segment at 0xFFFF and start the next one right after it.
      this.#timestampOffset = this.#segStart;
      this.#write(out, offset, false, MAX_SEGMENT);
      this.#segStart += MAX_SEGMENT;
      this.#elapsed = elapsed;
      this.#newSegment = true;
      return SEND;
    }
    this.#elapsed = elapsed;
    this.#timestampOffset = this.#segStart;

    if (elapsed >= this.#units) {
      this.#write(out, offset, true, elapsed - this.#segStart);
      this.#endsSent = 1;
      flags = SEND | END;
      if (tick === 0) flags |= MARKER;
      return flags;
    }
    if (tick === 0 || tick >= this.#nextUpdateTick || this.#newSegment) {
      // The first packet of a later segment goes out at once so the receiver joins it up.
      this.#newSegment = false;
      this.#write(out, offset, false, elapsed - this.#segStart);
      this.#nextUpdateTick = tick + this.#ticksPerUpdate;
      return tick === 0 ? SEND | MARKER : SEND;
    }
    return 0;
  }

  /**
   * The whole packet schedule of one press, for tests and tools (allocates). Uses the same
   * state machine as `next()` on a fresh sender with these options.
   */
  payloadsFor(digit: string, durationMs: number = this.durationMs): Rfc4733Packet[] {
    const s = new Rfc4733Sender({
      clockRate: this.clockRate,
      ptimeMs: this.ptimeMs,
      updateMs: this.updateMs,
      volume: this.volume,
      gapMs: 0,
    });
    if (digit.length !== 1) throw new ValidationError('INVALID_DTMF', 'payloadsFor() takes exactly one digit');
    s.send(digit, durationMs);
    const packets: Rfc4733Packet[] = [];
    const buf = new Uint8Array(4);
    for (let tick = 0; s.busy; tick++) {
      const flags = s.next(buf);
      if (flags === 0) continue;
      packets.push({
        payload: buf.slice(),
        marker: (flags & MARKER) !== 0,
        end: (flags & END) !== 0,
        offsetMs: tick * this.ptimeMs,
        timestampOffset: s.timestampOffset,
      });
    }
    return packets;
  }

  #write(out: Uint8Array, offset: number, end: boolean, duration: number): void {
    out[offset] = this.#code;
    out[offset + 1] = (end ? 0x80 : 0) | this.volume;
    out[offset + 2] = (duration >>> 8) & 0xff;
    out[offset + 3] = duration & 0xff;
  }

  #finishPress(): void {
    this.#code = -1;
    this.#gapLeft = this.#gapTicks;
  }
}
