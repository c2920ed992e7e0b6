/**
 * Whole-buffer sample-rate conversion between arbitrary rates (44.1 kHz, 22.05 kHz, 11.025 kHz
 * files and TTS output to the 8/16/48 kHz endpoint rates), used once per decoded prompt, never per
 * frame. Band-limited interpolation (J. O. Smith, "Digital Audio Resampling"): a Kaiser-windowed
 * sinc tabulated at TABLE_OVERSAMPLE points per zero crossing, linearly interpolated, widened by
 * the ratio when decimating so the cutoff sits at ROLLOFF x the lower Nyquist. Zero phase: sample
 * i of the output is centred on input time i * from / to, so there is no delay to compensate.
 */

/** Zero crossings of the sinc on each side. */
const ZERO_CROSSINGS = 16;
const TABLE_OVERSAMPLE = 512;
/** Cutoff as a fraction of the lower Nyquist: 0.9 x 4 kHz = 3.6 kHz for 8 kHz telephony. */
const ROLLOFF = 0.9;
/** Kaiser beta: about 80 dB sidelobe rejection. */
const BETA = 8;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 60; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-16) break;
  }
  return sum;
}

let table: Float64Array | undefined;

/** h(d) for d = k / TABLE_OVERSAMPLE zero crossings, k = 0..ZERO_CROSSINGS * TABLE_OVERSAMPLE (one extra guard entry). */
function kernel(): Float64Array {
  if (table !== undefined) return table;
  const n = ZERO_CROSSINGS * TABLE_OVERSAMPLE;
  const t = new Float64Array(n + 2);
  const i0 = besselI0(BETA);
  for (let k = 0; k <= n; k++) {
    const d = k / TABLE_OVERSAMPLE;
    const sinc = k === 0 ? 1 : Math.sin(Math.PI * d) / (Math.PI * d);
    const r = d / ZERO_CROSSINGS;
    t[k] = sinc * (besselI0(BETA * Math.sqrt(Math.max(0, 1 - r * r))) / i0);
  }
  table = t;
  return t;
}

/** Output length for a whole-buffer conversion: the same duration, rounded. */
export function convertedLength(inputLength: number, fromRate: number, toRate: number): number {
  return Math.round((inputLength * toRate) / fromRate);
}

/** Convert mono PCM16 from `fromRate` to `toRate` (any positive rates). */
export function convertRate(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (!(fromRate > 0 && toRate > 0)) throw new RangeError(`invalid rates ${fromRate} -> ${toRate}`);
  if (fromRate === toRate) return input.slice();
  const h = kernel();
  const len = input.length;
  const outLen = convertedLength(len, fromRate, toRate);
  const out = new Int16Array(outLen);
  const step = fromRate / toRate; // input samples per output sample
  // Kernel scale: 1 when interpolating, to/from when decimating (wider, lower cutoff).
  const scale = Math.min(1, toRate / fromRate) * ROLLOFF;
  const reach = ZERO_CROSSINGS / scale; // half-width in input samples
  const last = ZERO_CROSSINGS * TABLE_OVERSAMPLE;
  for (let i = 0; i < outLen; i++) {
    const t = i * step;
    const j0 = Math.max(0, Math.ceil(t - reach));
    const j1 = Math.min(len - 1, Math.floor(t + reach));
    let acc = 0;
    for (let j = j0; j <= j1; j++) {
      const x = Math.abs(t - j) * scale * TABLE_OVERSAMPLE;
      const k = Math.floor(x);
      if (k >= last) continue;
      const f = x - k;
      const w = (h[k] as number) + f * ((h[k + 1] as number) - (h[k] as number));
      acc += (input[j] as number) * w;
    }
    const v = Math.round(acc * scale);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
