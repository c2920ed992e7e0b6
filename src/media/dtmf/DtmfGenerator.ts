/**
 * In-band DTMF generator: dual tones with the ITU-T Q.23 frequency pairs, for endpoints that did
 * not negotiate telephone-event and for tests of the detector.
 *
 * Levels are in dBm0 per tone. ITU-T G.711 puts the digital milliwatt 3.17 dB below a full-scale
 * sine, so a full-scale sine is +3.17 dBm0 and a tone at L dBm0 has peak 32767 * 10^((L - 3.17)/20).
 * The default of -10 dBm0 per tone is a common transmit level (two tones together about -7 dBm0,
 * well clear of clipping). Short raised-cosine ramps keep the spectrum narrow and avoid clicks.
 *
 * Pure: no sockets, no timers. `fill()` allocates nothing.
 */
import { ValidationError } from '../../common/errors.ts';
import { dtmfEventCode } from './DtmfEvent.ts';

/** ITU-T Q.23: low (row) group and high (column) group frequencies in Hz. */
export const DTMF_ROW_HZ: readonly number[] = [697, 770, 852, 941];
export const DTMF_COL_HZ: readonly number[] = [1209, 1336, 1477, 1633];
/** Keypad layout: index = row * 4 + column. */
export const DTMF_KEYPAD = '123A456B789C*0#D';

/** Level of a full-scale sine in dBm0 (ITU-T G.711: 0 dBm0 is 3.17 dB below it). */
export const FULL_SCALE_SINE_DBM0 = 3.17;

/** Peak amplitude (PCM16) of a sine at `dbm0`. */
export function dbm0ToAmplitude(dbm0: number): number {
  return 32767 * Math.pow(10, (dbm0 - FULL_SCALE_SINE_DBM0) / 20);
}

/** The Q.23 (low, high) pair of a digit, or undefined when it is not a DTMF digit. */
export function dtmfFrequencies(digit: string): [number, number] | undefined {
  if (dtmfEventCode(digit) < 0) return undefined;
  const k = DTMF_KEYPAD.indexOf(digit.toUpperCase());
  return [DTMF_ROW_HZ[k >> 2]!, DTMF_COL_HZ[k & 3]!];
}

export interface DtmfGeneratorOptions {
  /** Output rate: 8000, 16000 or 48000 (any rate above 4 kHz works). */
  sampleRate?: number;
  /** Level of each tone, dBm0. */
  levelDbm0?: number;
  /** High group minus low group level, dB (positive: column tone louder). */
  twistDb?: number;
  /** Tone duration per digit. */
  durationMs?: number;
  /** Silence after each digit. */
  pauseMs?: number;
  /** Rise and fall time of each tone. */
  rampMs?: number;
}

interface Tone {
  lowHz: number;
  highHz: number;
  toneSamples: number;
  pauseSamples: number;
}

export class DtmfGenerator {
  readonly sampleRate: number;
  readonly levelDbm0: number;
  readonly twistDb: number;
  readonly durationMs: number;
  readonly pauseMs: number;

  readonly #lowAmp: number;
  readonly #highAmp: number;
  readonly #rampSamples: number;
  readonly #queue: Tone[] = [];

  #current: Tone | undefined;
  /** Sample index inside the current tone + pause. */
  #pos = 0;
  #lowStep = 0;
  #highStep = 0;

  constructor(options: DtmfGeneratorOptions = {}) {
    this.sampleRate = options.sampleRate ?? 8000;
    this.levelDbm0 = options.levelDbm0 ?? -10;
    this.twistDb = options.twistDb ?? 0;
    this.durationMs = options.durationMs ?? 100;
    this.pauseMs = options.pauseMs ?? 100;
    if (!(this.sampleRate >= 4000)) {
      throw new ValidationError('INVALID_DTMF_OPTIONS', `sampleRate must be at least 4000, got ${this.sampleRate}`);
    }
    this.#lowAmp = dbm0ToAmplitude(this.levelDbm0);
    this.#highAmp = dbm0ToAmplitude(this.levelDbm0 + this.twistDb);
    if (this.#lowAmp + this.#highAmp > 32767) {
      throw new ValidationError(
        'INVALID_DTMF_OPTIONS',
        `level ${this.levelDbm0} dBm0 with twist ${this.twistDb} dB would clip`,
      );
    }
    this.#rampSamples = Math.round(((options.rampMs ?? 2) * this.sampleRate) / 1000);
  }

  /** Queue digits; throws ValidationError naming the first character that is not DTMF. */
  queue(digits: string, durationMs: number = this.durationMs, pauseMs: number = this.pauseMs): void {
    if (!(durationMs > 0) || !(pauseMs >= 0)) {
      throw new ValidationError('INVALID_DTMF', 'duration must be positive and pause non-negative');
    }
    const tones: Tone[] = [];
    for (const ch of digits) {
      const f = dtmfFrequencies(ch);
      if (f === undefined) throw new ValidationError('INVALID_DTMF', `'${ch}' is not a DTMF digit (0-9, *, #, A-D)`);
      tones.push({
        lowHz: f[0],
        highHz: f[1],
        toneSamples: Math.round((durationMs * this.sampleRate) / 1000),
        pauseSamples: Math.round((pauseMs * this.sampleRate) / 1000),
      });
    }
    for (const t of tones) this.#queue.push(t);
  }

  /** true while tones or pauses are pending. */
  get busy(): boolean {
    return this.#current !== undefined || this.#queue.length > 0;
  }

  /** Drop everything queued, including the tone being played. */
  clear(): void {
    this.#queue.length = 0;
    this.#current = undefined;
  }

  /**
   * Write the next `out.length` samples: tones and pauses while queued, then zeros. Returns how
   * many samples belonged to the queued sequence (0 when idle), so a caller can mix or skip.
   */
  fill(out: Int16Array): number {
    let i = 0;
    const n = out.length;
    while (i < n) {
      let tone = this.#current;
      if (tone === undefined) {
        tone = this.#queue.shift();
        if (tone === undefined) break;
        this.#current = tone;
        this.#pos = 0;
        this.#lowStep = (2 * Math.PI * tone.lowHz) / this.sampleRate;
        this.#highStep = (2 * Math.PI * tone.highHz) / this.sampleRate;
      }
      const total = tone.toneSamples + tone.pauseSamples;
      const ramp = Math.min(this.#rampSamples, tone.toneSamples >> 1);
      while (i < n && this.#pos < total) {
        const p = this.#pos;
        if (p < tone.toneSamples) {
          // Phase from the sample index: exact frequency, no drift over long tones.
          let v = this.#lowAmp * Math.sin(this.#lowStep * p) + this.#highAmp * Math.sin(this.#highStep * p);
          const fromEnd = tone.toneSamples - 1 - p;
          if (p < ramp) v *= 0.5 - 0.5 * Math.cos((Math.PI * (p + 0.5)) / ramp);
          else if (fromEnd < ramp) v *= 0.5 - 0.5 * Math.cos((Math.PI * (fromEnd + 0.5)) / ramp);
          out[i] = Math.round(v);
        } else {
          out[i] = 0;
        }
        i++;
        this.#pos++;
      }
      if (this.#pos >= total) this.#current = undefined;
    }
    const written = i;
    for (; i < n; i++) out[i] = 0;
    return written;
  }

  /** All of `digits` (each tone followed by its pause) as one buffer; allocates, for tools and tests. */
  static toneFor(digits: string, options: DtmfGeneratorOptions = {}): Int16Array {
    const gen = new DtmfGenerator(options);
    gen.queue(digits);
    let total = 0;
    for (const t of gen.#queue) total += t.toneSamples + t.pauseSamples;
    const out = new Int16Array(total);
    gen.fill(out);
    return out;
  }
}
