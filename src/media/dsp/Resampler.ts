/**
 * Streaming sample-rate conversion between 8000, 16000, 24000 and 48000 Hz (ratios 2, 3, 6 and
 * 3/2 in either direction; 24 kHz for media streams) with a polyphase windowed-sinc FIR.
 *
 * Filter: Kaiser-windowed sinc designed at the common rate max(from, to), passband edge
 * 0.45 * min(from, to), stopband edge 0.5 * min(from, to) (the lower Nyquist, so nothing aliases),
 * 65 dB stopband attenuation (Kaiser's formulas: beta = 0.1102 (A - 8.7), N = (A - 7.95) /
 * (2.285 dw) + 1). The tap count is rounded up so that the linear-phase group delay is a whole
 * number of output samples (`Resampler.delay`): 8k->16k 80 samples, 8k->48k 239, 16k->8k 40,
 * 48k->8k 40 (about 5 ms each); 16k->48k 120 and 48k->16k 40 (2.5 ms). Taps per output sample:
 * 81, 80, 161, 481, 81, 241 respectively.
 *
 * State (the last taps-1 input samples and the output phase) carries across calls, so feeding
 * 20 ms frames gives exactly the samples of one whole-buffer call.
 */

const ATTENUATION_DB = 65;
const PASSBAND = 0.45;
const STOPBAND = 0.5;
/** Input chunk the work buffer holds without growing: 60 ms at 48 kHz. */
const DEFAULT_CHUNK = 2880;

const SUPPORTED = new Set([8000, 16000, 24000, 48000]);

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (power series), for the Kaiser window. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

interface Design {
  up: number; // L
  down: number; // M
  taps: number; // T taps per phase
  coefs: Float64Array; // L phases of T taps, each phase reversed for a forward inner loop
  delay: number; // group delay in output samples
}

const designs = new Map<string, Design>();

function design(fromRate: number, toRate: number): Design {
  const key = `${fromRate}:${toRate}`;
  const cached = designs.get(key);
  if (cached) return cached;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const fsd = fromRate * up; // design rate
  const fmin = Math.min(fromRate, toRate);
  const dw = (2 * Math.PI * (STOPBAND - PASSBAND) * fmin) / fsd;
  const nMin = Math.ceil((ATTENUATION_DB - 7.95) / (2.285 * dw)) + 1;
  // Odd length 2*down*k + 1: the centre tap then lands on an output sample, delay = k outputs.
  const k = Math.ceil((nMin - 1) / (2 * down));
  const n0 = 2 * down * k + 1;
  // Taps per phase rounded up to a multiple of 4 (zero padded) for the unrolled inner loop.
  const taps = Math.ceil(n0 / up / 4) * 4;
  const beta = 0.1102 * (ATTENUATION_DB - 8.7);
  const fc = (((PASSBAND + STOPBAND) / 2) * fmin) / fsd; // normalised cutoff, cycles per sample
  const mid = (n0 - 1) / 2;
  const h = new Float64Array(taps * up); // zero padded past n0
  let sum = 0;
  const i0beta = besselI0(beta);
  for (let i = 0; i < n0; i++) {
    const t = i - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = t / mid;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta;
    h[i] = sinc * w;
    sum += h[i]!;
  }
  // Unity DC gain through each of the `up` phases.
  const scale = up / sum;
  const coefs = new Float64Array(taps * up);
  for (let phase = 0; phase < up; phase++) {
    for (let j = 0; j < taps; j++) coefs[phase * taps + (taps - 1 - j)] = h[phase + j * up]! * scale;
  }
  const d: Design = { up, down, taps, coefs, delay: k };
  designs.set(key, d);
  return d;
}

function checkRates(fromRate: number, toRate: number): void {
  if (!SUPPORTED.has(fromRate) || !SUPPORTED.has(toRate)) {
    throw new RangeError(`resampling ${fromRate} -> ${toRate} Hz is not supported (8000, 16000, 24000, 48000)`);
  }
}

/** Output samples produced for `inputLength` input samples from a fresh (or reset) resampler. */
export function outputLength(inputLength: number, fromRate: number, toRate: number): number {
  checkRates(fromRate, toRate);
  if (fromRate === toRate) return inputLength;
  const g = gcd(fromRate, toRate);
  return Math.ceil((inputLength * (toRate / g)) / (fromRate / g));
}

export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** Group delay in output samples (linear phase, so the same at every frequency). */
  readonly delay: number;
  readonly #up: number;
  readonly #down: number;
  readonly #taps: number;
  readonly #coefs: Float64Array;
  /** taps-1 history samples followed by the current chunk. */
  #buf: Float64Array;
  /** Phase and input index (relative to the current chunk) of the next output sample. */
  #phase = 0;
  #index = 0;

  constructor(fromRate: number, toRate: number) {
    checkRates(fromRate, toRate);
    this.fromRate = fromRate;
    this.toRate = toRate;
    if (fromRate === toRate) {
      this.#up = this.#down = this.#taps = 1;
      this.#coefs = new Float64Array(1);
      this.#buf = new Float64Array(0);
      this.delay = 0;
      return;
    }
    const d = design(fromRate, toRate);
    this.#up = d.up;
    this.#down = d.down;
    this.#taps = d.taps;
    this.#coefs = d.coefs;
    this.delay = d.delay;
    this.#buf = new Float64Array(d.taps - 1 + DEFAULT_CHUNK);
  }

  /** Taps per output sample (cost of the inner loop). */
  get taps(): number {
    return this.#taps;
  }

  /**
   * Resample `input` into `out`, which must hold outputLength-many samples (at most
   * ceil(input.length * to / from)); returns the number written. Allocates only if `input` is
   * longer than any chunk seen before (the work buffer grows once).
   */
  process(input: Int16Array, out: Int16Array): number {
    const len = input.length;
    if (this.fromRate === this.toRate) {
      out.set(input);
      return len;
    }
    const hist = this.#taps - 1;
    if (hist + len > this.#buf.length) {
      const grown = new Float64Array(hist + len);
      grown.set(this.#buf.subarray(0, hist));
      this.#buf = grown;
    }
    const buf = this.#buf;
    for (let i = 0; i < len; i++) buf[hist + i] = input[i]!;
    const up = this.#up;
    const down = this.#down;
    const taps = this.#taps;
    const coefs = this.#coefs;
    let phase = this.#phase;
    let index = this.#index;
    let n = 0;
    while (index < len) {
      // y = sum_j h[phase + j*up] * x[index - j]; the window ends at buf[hist + index].
      const c0 = phase * taps;
      const b0 = index; // = hist + index - (taps - 1)
      // Four accumulators break the floating-point add dependency chain (about 4x faster).
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let j = 0; j < taps; j += 4) {
        a0 += coefs[c0 + j]! * buf[b0 + j]!;
        a1 += coefs[c0 + j + 1]! * buf[b0 + j + 1]!;
        a2 += coefs[c0 + j + 2]! * buf[b0 + j + 2]!;
        a3 += coefs[c0 + j + 3]! * buf[b0 + j + 3]!;
      }
      const v = Math.round(a0 + a1 + (a2 + a3));
      out[n++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      phase += down;
      while (phase >= up) {
        phase -= up;
        index++;
      }
    }
    this.#phase = phase;
    this.#index = index - len;
    // Keep the last taps-1 inputs as history for the next call.
    buf.copyWithin(0, len, len + hist);
    return n;
  }

  /** Forget history, as if freshly constructed. */
  reset(): void {
    this.#buf.fill(0);
    this.#phase = 0;
    this.#index = 0;
  }
}

/** Resample a whole buffer (files, prompts); same samples as streaming it through a Resampler. */
export function resample(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  const out = new Int16Array(outputLength(input.length, fromRate, toRate));
  if (fromRate === toRate) {
    out.set(input);
    return out;
  }
  const r = new Resampler(fromRate, toRate);
  const n = r.process(input, out);
  return n === out.length ? out : out.subarray(0, n);
}
