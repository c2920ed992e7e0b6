/**
 * Reports each key press once when it arrives both as RFC 4733 events and as in-band tones (a
 * gateway that sends telephone-event but leaves the tones in the audio, or a detector running on
 * a leg that also negotiated telephone-event).
 *
 * Two events are the same press when they carry the same digit, come from different sources and
 * either start within `windowMs` of each other or overlap in time. The first one pushed is
 * reported; the other is suppressed and counted. Each reported event absorbs at most one
 * duplicate, so "55" typed quickly is still two presses. Both sources' `startMs` must be on the
 * same clock (the detector's `startTimeMs` option lines it up with packet arrival times).
 *
 * Pure: no timers; remembers the last few reported presses in preallocated arrays.
 */
import type { DtmfEvent } from './DtmfEvent.ts';

export interface DtmfMergerOptions {
  /** Largest start-time difference for two events to be one press. */
  windowMs?: number;
  onDigit?: (event: DtmfEvent) => void;
}

export interface DtmfMergerStats {
  reported: number;
  suppressed: number;
}

const HISTORY = 16;

export class DtmfMerger {
  readonly windowMs: number;
  readonly #onDigit: ((event: DtmfEvent) => void) | undefined;
  readonly #digit: string[] = new Array<string>(HISTORY).fill('');
  readonly #inband = new Uint8Array(HISTORY);
  readonly #absorbed = new Uint8Array(HISTORY);
  readonly #start = new Float64Array(HISTORY);
  readonly #end = new Float64Array(HISTORY);
  #count = 0;
  #next = 0;
  readonly #stats: DtmfMergerStats = { reported: 0, suppressed: 0 };

  constructor(options: DtmfMergerOptions = {}) {
    this.windowMs = options.windowMs ?? 100;
    this.#onDigit = options.onDigit;
  }

  get stats(): Readonly<DtmfMergerStats> {
    return this.#stats;
  }

  /** Offer an event; returns true when it was reported, false when it duplicated an earlier one. */
  push(event: DtmfEvent): boolean {
    const inband = event.source === 'inband' ? 1 : 0;
    const start = event.startMs;
    const end = event.startMs + event.durationMs;
    // Newest first: the matching press is almost always the latest one.
    for (let k = 1; k <= this.#count; k++) {
      const i = (this.#next - k + HISTORY) % HISTORY;
      if (this.#absorbed[i] === 1 || this.#inband[i] === inband || this.#digit[i] !== event.digit) continue;
      const close = Math.abs(this.#start[i]! - start) <= this.windowMs;
      const overlap = start <= this.#end[i]! && this.#start[i]! <= end;
      if (close || overlap) {
        this.#absorbed[i] = 1;
        this.#stats.suppressed++;
        return false;
      }
    }
    const i = this.#next;
    this.#digit[i] = event.digit;
    this.#inband[i] = inband;
    this.#absorbed[i] = 0;
    this.#start[i] = start;
    this.#end[i] = end;
    this.#next = (i + 1) % HISTORY;
    if (this.#count < HISTORY) this.#count++;
    this.#stats.reported++;
    if (this.#onDigit !== undefined) this.#onDigit(event);
    return true;
  }

  /** Forget remembered presses (new call). */
  reset(): void {
    this.#count = 0;
    this.#next = 0;
  }
}
