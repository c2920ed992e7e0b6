/**
 * In-band DTMF detector (Goertzel-style DFT at the eight ITU-T Q.23 frequencies) built to the
 * ITU-T Q.24 receiver limits. Input is PCM16 at 8 kHz; 16 and 48 kHz are accepted and decimated
 * internally to 8 kHz (callers with other rates resample first).
 *
 * Analysis: windows of N = 102 samples (12.75 ms) every 51 samples (50 % overlap). The detector
 * takes rectangular-window DFTs at the eight frequencies (Goertzel, one per 51-sample half, added
 * up per window), which pick the strongest row and column and feed the relative peak and energy
 * tests. For the two winners it then takes Hann-windowed DFTs one bin below, at and one bin above
 * the nominal frequency; the three magnitudes give the tone's exact frequency and amplitude
 * (Hann's sidelobes are low, so a strong tone in the other group does not bias the weak one, which
 * matters for twist at the Q.24 limits). Per window:
 *
 * - frequency: both tones within +-2.5 % of nominal (Q.24: operate at +-1.5 %, not at +-3.5 %);
 * - level: each tone at least `minLevelDbm0` (-42 dBm0 by default; Q.24 asks operation down to
 *   about -36 dBm0 per tone depending on the administration);
 * - twist: low group up to 8 dB above the high group ("normal" twist as spandsp and Q.24 use it),
 *   high group up to 4 dB above the low group ("reverse"), each with 0.5 dB of estimation margin;
 * - relative peak: the other rows and columns at least 8 dB below the winners;
 * - energy ratio: the two tones carry at least 80 % (-1 dB) of the window's total energy (measured
 *   with the rectangular window, corrected for its loss at the measured offset). This is what
 *   rejects speech and music (talk-off): harmonics and other partials count against it.
 *
 * Timing: a press starts after 4 consecutive identical window hits; a tone of 40 ms always fills at
 * least 4 windows, a 23 ms one (Q.24 non-operate) can fill at most 3 even counting windows 80 %
 * full. It ends after 4 consecutive windows without it: an interruption of 10 ms touches at most 3
 * windows so it does not split a press, and a 40 ms pause always ends it, so the same digit after a
 * pause is a new press. A different digit hitting 4 windows in a row ends the press and starts one.
 *
 * Pre-filters (exact: they only skip work whose outcome is already known, so detection is the
 * same as without them): the DFTs of a half window are computed only when a window containing it
 * has the energy to hold a digit (|X(w)|^2 <= N sum x^2, so a window whose mean power is below a
 * sixth of the per-tone threshold cannot pass the level test: silence costs a sum of squares), and
 * the Hann measurements run only when the two strongest rectangular powers, corrected by the
 * rectangular window's largest loss at an accepted offset, could still hold the required share of
 * the energy (most speech stops there). `stats` counts windows, analysed and measured ones.
 *
 * Pure: no sockets, no timers; allocates nothing per sample or window (only the reported event).
 */
import { ValidationError } from '../../common/errors.ts';
import type { DtmfDigit, DtmfEvent } from './DtmfEvent.ts';
import { DTMF_COL_HZ, DTMF_KEYPAD, DTMF_ROW_HZ, dbm0ToAmplitude } from './DtmfGenerator.ts';

export interface DtmfDetectorOptions {
  /** Input rate: 8000 (native), 16000 or 48000 (decimated to 8000 inside). */
  sampleRate?: number;
  /** Clock value (ms) of the first sample, so `startMs` of events lines up with other sources. */
  startTimeMs?: number;
  /** Weakest tone accepted, per frequency. */
  minLevelDbm0?: number;
  /** Low group may exceed the high group by this much. */
  normalTwistDb?: number;
  /** High group may exceed the low group by this much. */
  reverseTwistDb?: number;
  /** Largest accepted offset from the nominal frequency, as a fraction. */
  maxFrequencyDeviation?: number;
  /** Other rows/columns must be this far below the strongest one. */
  relativePeakDb?: number;
  /** The two tones must hold at least this share of the total energy (dB, negative). */
  toTotalDb?: number;
  /**
   * The exact pre-filters (energy gate, tone-share bound) on (default) or off: off gives the same
   * detections at the full cost, for comparison in tests and benchmarks.
   */
  prefilter?: boolean;
  /** Called once per press, when it ends, with its duration. */
  onDigit?: (event: DtmfEvent) => void;
  /** Called when a press is recognised (about 32 ms in), before its duration is known. */
  onDigitStart?: (digit: DtmfDigit, startMs: number) => void;
}

export interface DtmfDetectorStats {
  /** Analysis windows evaluated. */
  windows: number;
  /**
   * Windows that got past the energy pre-filter and had their eight-frequency DFT computed
   * (`windows - analysed` were too quiet to hold a digit: silence costs a sum of squares).
   */
  analysed: number;
  /** Windows that got past the tone-share bound as well and were measured (Hann DFTs). */
  measured: number;
  /** Windows that looked like a digit. */
  hits: number;
  digits: number;
}

const RATE = 8000;
const HALF = 51;
const N = 2 * HALF;
const HITS_TO_START = 4;
const MISSES_TO_END = 4;

const FREQS: readonly number[] = [...DTMF_ROW_HZ, ...DTMF_COL_HZ];

export class DtmfDetector {
  readonly sampleRate: number;

  readonly #onDigit: ((event: DtmfEvent) => void) | undefined;
  readonly #onDigitStart: ((digit: DtmfDigit, startMs: number) => void) | undefined;
  readonly #startTimeMs: number;
  readonly #threshold: number;
  readonly #normalTwist: number;
  readonly #reverseTwist: number;
  readonly #maxDev: number;
  readonly #relPeak: number;
  readonly #toTotal: number;

  // e^{-j w0 HALF}: moves the second half's DFT to the window's time origin.
  readonly #rotC = new Float64Array(8);
  readonly #rotS = new Float64Array(8);
  readonly #re = new Float64Array(8);
  readonly #im = new Float64Array(8);
  readonly #prevRe = new Float64Array(8);
  readonly #prevIm = new Float64Array(8);
  readonly #pow = new Float64Array(8);
  // The current window's samples: [0, HALF) previous half, [HALF, N) current half.
  readonly #buf = new Float64Array(N);
  // Hann-windowed DFT kernels per frequency at bins -1, 0, +1 around nominal: [(f * 3 + k) * N + n].
  readonly #hannCos = new Float64Array(8 * 3 * N);
  readonly #hannSin = new Float64Array(8 * 3 * N);
  // Rectangular DFT of the current window per frequency (complex).
  readonly #xr = new Float64Array(8);
  readonly #xi = new Float64Array(8);
  // Results of #measure(): frequency offset (Hz), tone power (A^2 / 2) and the complex amplitude
  // c = (A / 2) e^{j phi} of the tone relative to the window start.
  #measOffset = 0;
  #measPower = 0;
  #measRe = 0;
  #measIm = 0;
  // Scratch output of kernel().
  #kRe = 0;
  #kIm = 0;
  #energy = 0;
  #prevEnergy = 0;
  /** Whether #prevRe/#prevIm hold the previous half's DFT (computed only when a window needed it). */
  #prevDone = false;
  #n = 0;
  #halves = 0;
  /** Window energy (sum of squares over N samples) below which no window can hold a digit. */
  readonly #energyGate: number;
  readonly #prefilter: boolean;
  /** Per frequency: the rectangular window's power gain at the largest accepted offset. */
  readonly #minRectGain = new Float64Array(8);
  // Goertzel constants per frequency: 2 cos w, cos w, sin w, and cos/sin of w (HALF - 1).
  readonly #gCoeff = new Float64Array(8);
  readonly #gCos = new Float64Array(8);
  readonly #gSin = new Float64Array(8);
  readonly #gEndCos = new Float64Array(8);
  readonly #gEndSin = new Float64Array(8);

  // Decimator (16/48 kHz input): FIR low-pass over a ring of recent input.
  readonly #decim: number;
  readonly #taps: Float64Array;
  readonly #ring: Float64Array;
  #ringPos = 0;
  #phase = 0;

  // Press state machine, in 8 kHz samples since the start.
  #cand = -1;
  #candCount = 0;
  #candStart = 0;
  #digit = -1;
  #digitStart = 0;
  #lastHitEnd = 0;
  #misses = 0;

  readonly #stats: DtmfDetectorStats = { windows: 0, analysed: 0, measured: 0, hits: 0, digits: 0 };

  constructor(options: DtmfDetectorOptions = {}) {
    this.sampleRate = options.sampleRate ?? RATE;
    if (this.sampleRate !== 8000 && this.sampleRate !== 16000 && this.sampleRate !== 48000) {
      throw new ValidationError(
        'UNSUPPORTED_RATE',
        `DtmfDetector takes 8000, 16000 or 48000 Hz, got ${this.sampleRate}; resample first`,
      );
    }
    this.#onDigit = options.onDigit;
    this.#onDigitStart = options.onDigitStart;
    this.#startTimeMs = options.startTimeMs ?? 0;
    const amp = dbm0ToAmplitude(options.minLevelDbm0 ?? -42);
    this.#threshold = (amp * amp) / 2;
    this.#normalTwist = Math.pow(10, (options.normalTwistDb ?? 8.5) / 10);
    this.#reverseTwist = Math.pow(10, (options.reverseTwistDb ?? 4.5) / 10);
    this.#maxDev = options.maxFrequencyDeviation ?? 0.025;
    this.#relPeak = Math.pow(10, (options.relativePeakDb ?? 8) / 10);
    this.#toTotal = Math.pow(10, (options.toTotalDb ?? -1) / 10);
    // A hit needs rowRaw * 3 >= threshold, rowRaw = 2 |X|^2 / N^2 <= 2 sum x^2 / N.
    this.#prefilter = options.prefilter ?? true;
    this.#energyGate = this.#prefilter ? (this.#threshold * N) / 6 : -1;
    for (let f = 0; f < 8; f++) this.#minRectGain[f] = rectGain(this.#maxDev * FREQS[f]!);

    for (let f = 0; f < 8; f++) {
      const w = (2 * Math.PI * FREQS[f]!) / RATE;
      this.#gCoeff[f] = 2 * Math.cos(w);
      this.#gCos[f] = Math.cos(w);
      this.#gSin[f] = Math.sin(w);
      this.#gEndCos[f] = Math.cos(w * (HALF - 1));
      this.#gEndSin[f] = Math.sin(w * (HALF - 1));
      this.#rotC[f] = Math.cos(w * HALF);
      this.#rotS[f] = -Math.sin(w * HALF);
      for (let k = 0; k < 3; k++) {
        const wk = w + ((k - 1) * 2 * Math.PI) / N;
        for (let n = 0; n < N; n++) {
          // Periodic Hann, for which the three-bin estimator below is exact.
          const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N);
          this.#hannCos[(f * 3 + k) * N + n] = hann * Math.cos(wk * n);
          this.#hannSin[(f * 3 + k) * N + n] = -hann * Math.sin(wk * n);
        }
      }
    }

    this.#decim = this.sampleRate / RATE;
    if (this.#decim > 1) {
      // Windowed-sinc low-pass at 3 kHz (DTMF tops out at 1.7 kHz; aliases must stay off the band).
      const len = 16 * this.#decim + 1;
      this.#taps = new Float64Array(len);
      const fc = 3000 / this.sampleRate;
      let sum = 0;
      for (let i = 0; i < len; i++) {
        const m = i - (len - 1) / 2;
        const sinc = m === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * m) / (Math.PI * m);
        const hamming = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (len - 1));
        this.#taps[i] = sinc * hamming;
        sum += this.#taps[i]!;
      }
      for (let i = 0; i < len; i++) this.#taps[i]! /= sum;
      this.#ring = new Float64Array(len);
    } else {
      this.#taps = new Float64Array(0);
      this.#ring = new Float64Array(0);
    }
  }

  get stats(): Readonly<DtmfDetectorStats> {
    return this.#stats;
  }

  /** The digit currently held (recognised and not yet ended), or undefined. */
  get current(): DtmfDigit | undefined {
    return this.#digit >= 0 ? (DTMF_KEYPAD[this.#digit] as DtmfDigit) : undefined;
  }

  /** Analyse `samples`; returns the number of presses that ended inside them. */
  process(samples: Int16Array): number {
    const before = this.#stats.digits;
    if (this.#decim === 1) {
      // Half window by half window: a sum of squares and a copy per sample, the rest per half.
      const buf = this.#buf;
      const len = samples.length;
      let i = 0;
      while (i < len) {
        const n = this.#n;
        const m = HALF - n < len - i ? HALF - n : len - i;
        let e = this.#energy;
        for (let k = 0, at = HALF + n; k < m; k++, at++) {
          const x = samples[i + k]!;
          e += x * x;
          buf[at] = x;
        }
        this.#energy = e;
        i += m;
        if (n + m < HALF) {
          this.#n = n + m;
          break;
        }
        this.#n = 0;
        this.#halfDone();
      }
    } else {
      const taps = this.#taps;
      const ring = this.#ring;
      const len = ring.length;
      for (let i = 0; i < samples.length; i++) {
        ring[this.#ringPos] = samples[i]!;
        if (++this.#ringPos === len) this.#ringPos = 0;
        if (++this.#phase < this.#decim) continue;
        this.#phase = 0;
        let acc = 0;
        let k = this.#ringPos;
        for (let t = 0; t < len; t++) {
          acc += taps[t]! * ring[k]!;
          if (++k === len) k = 0;
        }
        this.#sample(acc);
      }
    }
    return this.#stats.digits - before;
  }

  /** End of stream: report a press still held. Returns the number reported (0 or 1). */
  flush(): number {
    if (this.#digit < 0) return 0;
    this.#end();
    return 1;
  }

  /** Forget the signal seen so far (not the stats), e.g. after a source switch. */
  reset(): void {
    this.#re.fill(0);
    this.#im.fill(0);
    this.#energy = 0;
    this.#prevEnergy = 0;
    this.#prevDone = false;
    this.#n = 0;
    this.#halves = 0;
    this.#cand = -1;
    this.#candCount = 0;
    this.#digit = -1;
    this.#misses = 0;
    this.#ring.fill(0);
    this.#buf.fill(0);
  }

  #sample(x: number): void {
    const n = this.#n;
    this.#energy += x * x;
    this.#buf[HALF + n] = x;
    if (n + 1 < HALF) {
      this.#n = n + 1;
      return;
    }
    this.#n = 0;
    this.#halfDone();
  }

  /** A half window is complete in #buf[HALF, N): evaluate the window it ends, then shift. */
  #halfDone(): void {
    this.#halves++;
    // The current half's DFT, only when this window could hold a digit (else nobody reads it:
    // the next window computes it from the samples kept in #buf if that one needs it).
    let done = false;
    if (this.#halves >= 2 && this.#prevEnergy + this.#energy >= this.#energyGate) {
      if (!this.#prevDone) this.#halfDft(0, this.#prevRe, this.#prevIm);
      this.#halfDft(HALF, this.#re, this.#im);
      done = true;
    }
    if (this.#halves >= 2) this.#window(done);
    // This half becomes the first half of the next window.
    if (done) {
      this.#prevRe.set(this.#re);
      this.#prevIm.set(this.#im);
    }
    this.#prevDone = done;
    this.#prevEnergy = this.#energy;
    this.#buf.copyWithin(0, HALF);
    this.#energy = 0;
  }

  /**
   * Rectangular DFT at the eight frequencies of the half window at `from` in #buf, time origin at
   * its start, by Goertzel's recursion (one multiply per sample and frequency): with s[n] = x[n] +
   * 2 cos(w) s[n-1] - s[n-2], sum x[n] e^{-jwn} = e^{-jw(HALF-1)} (s[HALF-1] - e^{-jw} s[HALF-2]).
   */
  #halfDft(from: number, re: Float64Array, im: Float64Array): void {
    const buf = this.#buf;
    const end = from + HALF;
    for (let f = 0; f < 8; f++) {
      const coeff = this.#gCoeff[f]!;
      let s1 = 0;
      let s2 = 0;
      for (let n = from; n < end; n++) {
        const s0 = buf[n]! + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const yr = s1 - this.#gCos[f]! * s2;
      const yi = this.#gSin[f]! * s2;
      const cm = this.#gEndCos[f]!;
      const sm = this.#gEndSin[f]!;
      re[f] = yr * cm + yi * sm;
      im[f] = yi * cm - yr * sm;
    }
  }

  /** Evaluate the window made of the previous and the current half (`analysed`: both DFTs are there). */
  #window(analysed: boolean): void {
    this.#stats.windows++;
    const hit = analysed ? this.#classify() : -1;
    if (hit >= 0) this.#stats.hits++;
    // Window [start, end) in 8 kHz samples.
    const end = this.#halves * HALF;
    const start = end - N;

    if (hit >= 0 && hit === this.#cand) {
      this.#candCount++;
    } else {
      this.#cand = hit;
      this.#candCount = hit >= 0 ? 1 : 0;
      this.#candStart = start;
    }

    if (this.#digit >= 0) {
      if (hit === this.#digit) {
        this.#misses = 0;
        this.#lastHitEnd = end;
        return;
      }
      this.#misses++;
      if (hit >= 0 && this.#candCount >= HITS_TO_START) {
        // Another digit with no pause (rolling across the keypad): end this one, start that one.
        this.#end();
      } else {
        if (this.#misses >= MISSES_TO_END) this.#end();
        return;
      }
    }
    if (hit >= 0 && this.#candCount >= HITS_TO_START) {
      this.#digit = hit;
      this.#digitStart = this.#candStart;
      this.#lastHitEnd = end;
      this.#misses = 0;
      if (this.#onDigitStart !== undefined) {
        this.#onDigitStart(DTMF_KEYPAD[hit] as DtmfDigit, this.#startTimeMs + (this.#digitStart * 1000) / RATE);
      }
    }
  }

  #end(): void {
    const digit = this.#digit;
    this.#digit = -1;
    this.#misses = 0;
    this.#stats.digits++;
    if (this.#onDigit !== undefined) {
      this.#onDigit({
        digit: DTMF_KEYPAD[digit] as DtmfDigit,
        durationMs: ((this.#lastHitEnd - this.#digitStart) * 1000) / RATE,
        startMs: this.#startTimeMs + (this.#digitStart * 1000) / RATE,
        source: 'inband',
      });
    }
  }

  /** Keypad index (row * 4 + column) when the window holds a valid DTMF pair, else -1. */
  #classify(): number {
    this.#stats.analysed++;
    const pow = this.#pow;
    const xr = this.#xr;
    const xi = this.#xi;
    for (let f = 0; f < 8; f++) {
      const re = this.#re[f]!;
      const im = this.#im[f]!;
      const r = this.#prevRe[f]! + this.#rotC[f]! * re - this.#rotS[f]! * im;
      const i = this.#prevIm[f]! + this.#rotC[f]! * im + this.#rotS[f]! * re;
      xr[f] = r;
      xi[f] = i;
      // Tone power (A^2 / 2) of a sine of amplitude A filling the window: |X| = N A / 2.
      pow[f] = (2 * (r * r + i * i)) / (N * N);
    }
    let row = 0;
    let col = 4;
    for (let f = 1; f < 4; f++) if (pow[f]! > pow[row]!) row = f;
    for (let f = 5; f < 8; f++) if (pow[f]! > pow[col]!) col = f;
    const rowRaw = pow[row]!;
    const colRaw = pow[col]!;
    // Cheap exit for silence and most speech: the rectangular window loses at most 4.4 dB at the
    // largest accepted offset, so a tone above threshold cannot be this weak.
    if (rowRaw * 3 < this.#threshold || colRaw * 3 < this.#threshold) return -1;
    // The energy share test below, with each tone's power at its largest possible correction
    // (the offset is at most maxDev): if even that fails, the measured offsets cannot pass it.
    const total = (this.#prevEnergy + this.#energy) / N;
    if (this.#prefilter && rowRaw / this.#minRectGain[row]! + colRaw / this.#minRectGain[col]! < total * this.#toTotal)
      return -1;
    this.#stats.measured++;

    if (!this.#measure(row)) return -1;
    const rowPow = this.#measPower;
    const rowOffset = this.#measOffset;
    const rowRe = this.#measRe;
    const rowIm = this.#measIm;
    if (!this.#measure(col)) return -1;
    const colPow = this.#measPower;
    const colOffset = this.#measOffset;
    const colRe = this.#measRe;
    const colIm = this.#measIm;

    if (rowPow < this.#threshold || colPow < this.#threshold) return -1;
    if (rowPow > colPow * this.#normalTwist || colPow > rowPow * this.#reverseTwist) return -1;

    // Relative peak: every other row and column, after removing what the two measured tones leak
    // into it through the rectangular window, must be well below the winner of its group. Without
    // the subtraction a tone 8 dB stronger in the other group would fail a legitimate digit.
    const wRow = (2 * Math.PI * (FREQS[row]! + rowOffset)) / RATE;
    const wCol = (2 * Math.PI * (FREQS[col]! + colOffset)) / RATE;
    for (let f = 0; f < 8; f++) {
      if (f === row || f === col) continue;
      const wf = (2 * Math.PI * FREQS[f]!) / RATE;
      let r = xr[f]!;
      let i = xi[f]!;
      // A real tone is c e^{jwn} + conj(c) e^{-jwn}; its DFT at wf is c G(w - wf) + conj(c) G(-w - wf).
      this.#kernel(wRow - wf);
      r -= rowRe * this.#kRe - rowIm * this.#kIm;
      i -= rowRe * this.#kIm + rowIm * this.#kRe;
      this.#kernel(-wRow - wf);
      r -= rowRe * this.#kRe + rowIm * this.#kIm;
      i -= rowRe * this.#kIm - rowIm * this.#kRe;
      this.#kernel(wCol - wf);
      r -= colRe * this.#kRe - colIm * this.#kIm;
      i -= colRe * this.#kIm + colIm * this.#kRe;
      this.#kernel(-wCol - wf);
      r -= colRe * this.#kRe + colIm * this.#kIm;
      i -= colRe * this.#kIm - colIm * this.#kRe;
      const residual = (2 * (r * r + i * i)) / (N * N);
      if (residual * this.#relPeak > (f < 4 ? rowRaw : colRaw)) return -1;
    }

    // Share of the total energy, with the rectangular window's loss at the offsets put back.
    if (rowRaw / rectGain(rowOffset) + colRaw / rectGain(colOffset) < total * this.#toTotal) return -1;
    return (row << 2) + (col - 4);
  }

  /**
   * Frequency, power and phase of the tone near frequency `f` from Hann-windowed DFTs at bins -1,
   * 0, +1: for a periodic Hann window the bin offset is d = 2 (|X+1| - |X-1|) / (|X-1| + 2 |X0| +
   * |X+1|) and |X0| = (N / 4) A |sinc(d) / (1 - d^2)|. Sets the #meas* fields; false when the
   * offset is outside the accepted deviation.
   */
  #measure(f: number): boolean {
    const buf = this.#buf;
    const hc = this.#hannCos;
    const hs = this.#hannSin;
    let m0 = 0;
    let m1 = 0;
    let m2 = 0;
    let re1 = 0;
    let im1 = 0;
    for (let k = 0; k < 3; k++) {
      const base = (f * 3 + k) * N;
      let re = 0;
      let im = 0;
      for (let n = 0; n < N; n++) {
        const x = buf[n]!;
        re += x * hc[base + n]!;
        im += x * hs[base + n]!;
      }
      const mag = Math.sqrt(re * re + im * im);
      if (k === 0) m0 = mag;
      else if (k === 1) {
        m1 = mag;
        re1 = re;
        im1 = im;
      } else m2 = mag;
    }
    const denom = m0 + 2 * m1 + m2;
    if (denom <= 0) return false;
    const d = (2 * (m2 - m0)) / denom;
    const offset = (d * RATE) / N;
    if (Math.abs(offset) > this.#maxDev * FREQS[f]!) return false;
    const sinc = Math.abs(d) < 1e-9 ? 1 : Math.sin(Math.PI * d) / (Math.PI * d);
    const amp = (4 * m1) / (N * Math.abs(sinc / (1 - d * d)));
    this.#measOffset = offset;
    this.#measPower = (amp * amp) / 2;
    // c = X0 / Hann(delta), Hann(delta) = 0.5 G(delta) - 0.25 G(delta + 2pi/N) - 0.25 G(delta - 2pi/N).
    const delta = (2 * Math.PI * offset) / RATE;
    this.#kernel(delta);
    let hr = 0.5 * this.#kRe;
    let hi = 0.5 * this.#kIm;
    this.#kernel(delta + (2 * Math.PI) / N);
    hr -= 0.25 * this.#kRe;
    hi -= 0.25 * this.#kIm;
    this.#kernel(delta - (2 * Math.PI) / N);
    hr -= 0.25 * this.#kRe;
    hi -= 0.25 * this.#kIm;
    const h2 = hr * hr + hi * hi;
    if (h2 <= 0) return false;
    this.#measRe = (re1 * hr + im1 * hi) / h2;
    this.#measIm = (im1 * hr - re1 * hi) / h2;
    return true;
  }

  /** G(w) = sum_{n<N} e^{jwn} = e^{jw(N-1)/2} sin(Nw/2) / sin(w/2), into #kRe/#kIm. */
  #kernel(w: number): void {
    const sh = Math.sin(w / 2);
    const mag = Math.abs(sh) < 1e-12 ? N : Math.sin((N * w) / 2) / sh;
    const ph = (w * (N - 1)) / 2;
    this.#kRe = mag * Math.cos(ph);
    this.#kIm = mag * Math.sin(ph);
  }
}

/** Power gain of the N-point rectangular window for a tone `offset` Hz from the bin. */
function rectGain(offset: number): number {
  const x = (Math.PI * offset) / RATE;
  if (Math.abs(x) < 1e-9) return 1;
  const d = Math.sin(N * x) / (N * Math.sin(x));
  return d * d;
}
