import { ValidationError } from '../../common/errors.ts';

/**
 * A tone: one or two frequencies summed (dual tones as in ITU-T E.180 / US call progress tones,
 * ANSI T1.401), optionally cadenced on/off. `durationMs` undefined plays until stopped.
 */
export interface ToneSpec {
  /** One or two frequencies in Hz. */
  readonly frequencies: readonly number[];
  /** Cadence in ms; offMs 0 (or onMs 0) means continuous. */
  readonly onMs: number;
  readonly offMs: number;
  /** Total duration in ms; undefined: until stopped. */
  readonly durationMs: number | undefined;
  /** Level of each component in dBFS (the sum of two stays below full scale). */
  readonly levelDbfs: number;
}

const DEFAULT_LEVEL_DBFS = -13;

/** Named tones. US values (ANSI T1.401 / Bellcore precise tone plan); beep is a 250 ms 1 kHz tone. */
export const NAMED_TONES: Readonly<Record<string, ToneSpec>> = {
  dial: { frequencies: [350, 440], onMs: 0, offMs: 0, durationMs: undefined, levelDbfs: DEFAULT_LEVEL_DBFS },
  ring: { frequencies: [440, 480], onMs: 2000, offMs: 4000, durationMs: undefined, levelDbfs: DEFAULT_LEVEL_DBFS },
  busy: { frequencies: [480, 620], onMs: 500, offMs: 500, durationMs: undefined, levelDbfs: DEFAULT_LEVEL_DBFS },
  congestion: { frequencies: [480, 620], onMs: 250, offMs: 250, durationMs: undefined, levelDbfs: DEFAULT_LEVEL_DBFS },
  beep: { frequencies: [1000], onMs: 0, offMs: 0, durationMs: 250, levelDbfs: -10 },
};

const MAX_DURATION_MS = 3_600_000;

/**
 * Parse what follows `tone:`: `NAME`, `F1`, `F1+F2`, optionally `/ON/OFF` cadence, then `:DURATION_MS`.
 * Examples: `ring`, `440`, `440+480`, `440:1000`, `425/1000/4000:12000`, `busy:3000`.
 */
export function parseToneSpec(spec: string): ToneSpec {
  const m = /^([a-z]+|\d+(?:\.\d+)?(?:\+\d+(?:\.\d+)?)?)(?:\/(\d+)\/(\d+))?(?::(\d+))?$/.exec(spec);
  if (m === null) {
    throw new ValidationError(
      'INVALID_MEDIA',
      `tone:${spec}: expected NAME, F or F1+F2, optional /ON_MS/OFF_MS, optional :DURATION_MS`,
    );
  }
  const head = m[1] as string;
  let base: ToneSpec;
  if (/^[a-z]/.test(head)) {
    const named = NAMED_TONES[head];
    if (named === undefined || !Object.hasOwn(NAMED_TONES, head)) {
      throw new ValidationError(
        'INVALID_MEDIA',
        `tone:${spec}: unknown tone '${head}' (known: ${Object.keys(NAMED_TONES).join(', ')})`,
      );
    }
    base = named;
  } else {
    const frequencies = head.split('+').map(Number);
    for (const f of frequencies) {
      if (!(f >= 20 && f <= 20000))
        throw new ValidationError('INVALID_MEDIA', `tone:${spec}: frequency ${f} Hz outside 20..20000`);
    }
    base = { frequencies, onMs: 0, offMs: 0, durationMs: undefined, levelDbfs: DEFAULT_LEVEL_DBFS };
  }
  let { onMs, offMs, durationMs } = base;
  if (m[2] !== undefined) {
    onMs = Number(m[2]);
    offMs = Number(m[3]);
    if (onMs <= 0 || onMs > MAX_DURATION_MS || offMs > MAX_DURATION_MS) {
      throw new ValidationError('INVALID_MEDIA', `tone:${spec}: cadence on must be 1..${MAX_DURATION_MS} ms`);
    }
  }
  if (m[4] !== undefined) {
    durationMs = Number(m[4]);
    if (durationMs <= 0 || durationMs > MAX_DURATION_MS) {
      throw new ValidationError('INVALID_MEDIA', `tone:${spec}: duration must be 1..${MAX_DURATION_MS} ms`);
    }
  }
  return { frequencies: base.frequencies, onMs, offMs, durationMs, levelDbfs: base.levelDbfs };
}

/**
 * Generates a ToneSpec at a sample rate, frame after frame, without allocating: phase is kept in
 * turns (0..1) per component so a long tone never drifts or loses precision.
 */
export class ToneGenerator {
  readonly sampleRate: number;
  readonly #inc: Float64Array;
  readonly #phase: Float64Array;
  readonly #amp: number;
  readonly #onSamples: number;
  readonly #periodSamples: number;
  /** Total samples to produce; -1 for unbounded. */
  readonly #total: number;
  #pos = 0;

  constructor(spec: ToneSpec, sampleRate: number) {
    this.sampleRate = sampleRate;
    const n = spec.frequencies.length;
    this.#inc = new Float64Array(n);
    this.#phase = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // Components above Nyquist would alias; silence them instead.
      const f = spec.frequencies[i] as number;
      this.#inc[i] = f < sampleRate / 2 ? f / sampleRate : 0;
    }
    this.#amp = 32767 * 10 ** (spec.levelDbfs / 20);
    const continuous = spec.onMs <= 0 || spec.offMs <= 0;
    this.#onSamples = continuous ? 0 : Math.round((spec.onMs * sampleRate) / 1000);
    this.#periodSamples = continuous ? 0 : this.#onSamples + Math.round((spec.offMs * sampleRate) / 1000);
    this.#total = spec.durationMs === undefined ? -1 : Math.round((spec.durationMs * sampleRate) / 1000);
  }

  /** Samples left, or Infinity for an unbounded tone. */
  get remaining(): number {
    return this.#total < 0 ? Infinity : this.#total - this.#pos;
  }

  get done(): boolean {
    return this.#total >= 0 && this.#pos >= this.#total;
  }

  /** Restart from the beginning (for loops). */
  reset(): void {
    this.#pos = 0;
    this.#phase.fill(0);
  }

  /**
   * Write up to `count` samples at `out[offset]`; returns samples written (fewer only when the tone
   * ends). Hot path: no allocation.
   */
  generate(out: Int16Array, offset: number, count: number): number {
    let n = count;
    if (this.#total >= 0 && this.#pos + n > this.#total) n = Math.max(0, this.#total - this.#pos);
    const inc = this.#inc;
    const phase = this.#phase;
    const comps = inc.length;
    const amp = this.#amp;
    const on = this.#onSamples;
    const period = this.#periodSamples;
    for (let i = 0; i < n; i++) {
      const t = this.#pos + i;
      let v = 0;
      const audible = period === 0 || t % period < on;
      for (let c = 0; c < comps; c++) {
        const p = phase[c] as number;
        if (audible) v += Math.sin(2 * Math.PI * p);
        const np = p + (inc[c] as number);
        phase[c] = np >= 1 ? np - 1 : np;
      }
      out[offset + i] = Math.round(v * amp);
    }
    this.#pos += n;
    return n;
  }
}
