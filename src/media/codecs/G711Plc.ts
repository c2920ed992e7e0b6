/**
 * Packet loss concealment by pitch waveform substitution, after ITU-T G.711 Appendix I (09/99),
 * "A high quality low-complexity algorithm for packet loss concealment with G.711" (the LowcFE
 * reference code). Pure and allocation-free per call: every buffer is allocated in the constructor.
 *
 * What it does (section numbers of Appendix I):
 * - I.2.1 keeps a history of the last 48.75 ms of output (3 longest pitch periods plus 1/4 period:
 *   390 samples at 8 kHz).
 * - I.2.2 at the start of a loss, estimates the pitch period by normalised cross-correlation of the
 *   last 20 ms with the history at lags 40..120 samples (200..66 Hz): a coarse search on every
 *   second sample, then a fine search around the best lag.
 * - I.2.3 synthesises the loss by repeating the last pitch period; the end of that period is
 *   overlap-added (1/4 period) with the signal one period earlier so that the repetition is smooth.
 * - I.2.4 after 10 ms and 20 ms of loss, extends the repeated buffer to 2 then 3 periods (OLA of the
 *   old and new buffer over 1/4 period) to avoid the buzz of a single repeated period.
 * - I.2.5 attenuates linearly by 20 % per 10 ms after the first 10 ms: silence after 60 ms.
 * - I.2.6 on the first good frame after a loss, overlap-adds the synthetic continuation into the
 *   start of the real frame over 1/4 period plus 4 ms per extra 10 ms lost (at most 10 ms).
 *
 * Deviations from the Recommendation's reference code, all deliberate:
 * - No algorithmic delay. The reference delays its output by 1/4 of the longest period (3.75 ms) so
 *   that, when a loss starts, it can still overlap-add into the last samples it played. Here decoded
 *   frames go out at once and unchanged (G.711 stays bit-exact, latency unchanged); instead the first
 *   1/4 period of the synthetic signal is overlap-added with the time-reversed last 1/4 period of
 *   the history, which joins the real signal without a step (the approach of spandsp's plc.c).
 * - Any frame length: the reference conceals exactly 10 ms per call; here a loss advances in 10 ms
 *   steps internally and `conceal()` may ask for any number of samples (20 ms, 30 ms, 5 ms...).
 * - Any sample rate: all lengths (history, pitch range, correlation window, decimation, steps) are
 *   scaled by rate / 8000, so the same class conceals G.722 (16 kHz) and L16 (8, 16, 48 kHz).
 * - Samples are rounded, not truncated, when converted back to 16 bits.
 */

const PITCH_MIN_8K = 40; // 200 Hz
const PITCH_MAX_8K = 120; // 66.7 Hz
const CORR_LEN_8K = 160; // 20 ms correlation window
const NDEC_8K = 2; // coarse search decimation
const STEP_8K = 80; // 10 ms: the unit of extension and attenuation
const END_OVERLAP_INCR_8K = 32; // 4 ms more end OLA per extra 10 ms lost
const CORR_MIN_POWER = 250; // floor of the energy normaliser (the reference's CORRMINPOWER)
const ATTEN_PER_STEP = 0.2; // 20 % per 10 ms
const SILENCE_STEPS = 6; // 1 unattenuated step, then 5 steps of 20 %: silent after 60 ms
const EXTEND_STEPS = 2; // the buffer grows at steps 1 and 2 to 2 and 3 periods

function clamp16(x: number): number {
  const r = Math.round(x);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

export class G711Plc {
  readonly sampleRate: number;
  readonly #pitchMin: number;
  readonly #pitchMax: number;
  readonly #corrLen: number;
  readonly #ndec: number;
  readonly #step: number;
  readonly #endOverlapIncr: number;
  readonly #histLen: number;
  /** The last #histLen samples we output (decoded or concealed), oldest first. */
  readonly #history: Float32Array;
  /** Copy of the history taken when a loss starts; its tail is reworked for smooth repetition. */
  readonly #pitchBuf: Float32Array;
  /** The original last 1/4 period of the history (before the tail OLA). */
  readonly #lastQ: Float32Array;
  /** The old buffer's continuation over 1/4 period, blended into an extended buffer. */
  readonly #tail: Float32Array;
  #pitch = 0;
  #overlap = 0;
  /** Repeated region: #pitchBuf[#bufStart .. #histLen), #bufLen = 1, 2 or 3 periods. */
  #bufStart = 0;
  #bufLen = 0;
  #offset = 0;
  /** Samples concealed in the current loss (0: not in a loss). */
  #erased = 0;

  constructor(sampleRate = 8000) {
    if (!(sampleRate >= 8000 && sampleRate <= 96000)) throw new RangeError(`PLC rate ${sampleRate} not supported`);
    this.sampleRate = sampleRate;
    const k = sampleRate / 8000;
    this.#pitchMin = Math.round(PITCH_MIN_8K * k);
    this.#pitchMax = Math.round(PITCH_MAX_8K * k);
    this.#corrLen = Math.round(CORR_LEN_8K * k);
    this.#ndec = Math.max(1, Math.round(NDEC_8K * k));
    this.#step = Math.round(STEP_8K * k);
    this.#endOverlapIncr = Math.round(END_OVERLAP_INCR_8K * k);
    const overlapMax = this.#pitchMax >> 2;
    this.#histLen = this.#pitchMax * 3 + overlapMax;
    this.#history = new Float32Array(this.#histLen);
    this.#pitchBuf = new Float32Array(this.#histLen);
    this.#lastQ = new Float32Array(overlapMax);
    this.#tail = new Float32Array(overlapMax);
  }

  /** Pitch period (samples) estimated at the start of the current or last loss; 0 before any. */
  get pitch(): number {
    return this.#pitch;
  }

  /** Samples concealed since the last good frame. */
  get erasedSamples(): number {
    return this.#erased;
  }

  /**
   * A frame was decoded: remembers it and, if it ends a loss, overlap-adds the synthetic
   * continuation into its start in place (I.2.6), so the real signal fades in without a step.
   */
  onGoodFrame(pcm: Int16Array, samples: number = pcm.length): void {
    const n = samples < pcm.length ? samples : pcm.length;
    if (n <= 0) return;
    const erased = this.#erased;
    if (erased > 0) {
      this.#erased = 0;
      const step = this.#step;
      const steps = Math.ceil(erased / step);
      let olen = this.#overlap + (steps - 1) * this.#endOverlapIncr;
      if (olen > step) olen = step;
      if (olen > n) olen = n;
      const gain = this.#gainAt(erased);
      if (olen > 0) {
        const incr = 1 / olen;
        const incrG = incr * gain;
        let lw = (1 - incr) * gain;
        let rw = incr;
        const buf = this.#pitchBuf;
        const start = this.#bufStart;
        const len = this.#bufLen;
        let off = this.#offset;
        for (let i = 0; i < olen; i++) {
          // After 60 ms the buffer may be empty (no loss had a pitch): lw is 0 then anyway.
          const f = len > 0 ? buf[start + off]! : 0;
          if (len > 0 && ++off === len) off = 0;
          pcm[i] = clamp16(lw * f + rw * pcm[i]!);
          lw -= incrG;
          rw += incr;
        }
        this.#offset = off;
      }
    }
    this.#save(pcm, n);
  }

  /** Fills `out[0..samples)` with concealment audio for lost samples; returns samples written. */
  conceal(out: Int16Array, samples: number): number {
    const n = samples < out.length ? samples : out.length;
    if (n <= 0) return 0;
    const step = this.#step;
    const silenceAt = SILENCE_STEPS * step;
    const buf = this.#pitchBuf;
    const lastQ = this.#lastQ;
    const tail = this.#tail;
    let i = 0;
    while (i < n) {
      const pos = this.#erased;
      if (pos >= silenceAt) {
        out.fill(0, i, n);
        this.#erased += n - i;
        break;
      }
      const inStep = pos % step;
      if (inStep === 0) {
        if (pos === 0) this.#startLoss();
        else if (pos <= EXTEND_STEPS * step) this.#extend();
      }
      let end = i + step - inStep;
      if (end > n) end = n;
      const ov = this.#overlap;
      const start = this.#bufStart;
      const len = this.#bufLen;
      const stepNo = (pos - inStep) / step;
      const olaSource = stepNo === 0 ? 1 : stepNo <= EXTEND_STEPS ? 2 : 0;
      let off = this.#offset;
      const from = i;
      for (let j = inStep; i < end; i++, j++) {
        let v = buf[start + off]!;
        if (++off === len) off = 0;
        if (j < ov && olaSource !== 0) {
          // Step 0: blend in from the time-reversed end of the real signal (no-delay variant of
          // I.2.3). Steps 1, 2: blend the old buffer's continuation into the extended one (I.2.4).
          const w = (j + 1) / ov;
          const other = olaSource === 1 ? lastQ[ov - 1 - j]! : tail[j]!;
          v = (1 - w) * other + w * v;
        }
        out[i] = clamp16(v * this.#gainAt(pos + j - inStep));
      }
      this.#offset = off;
      this.#erased = pos + (end - from);
    }
    this.#save(out, n);
    return n;
  }

  /** Forgets the history and any loss in progress (a new stream). */
  reset(): void {
    this.#history.fill(0);
    this.#erased = 0;
    this.#pitch = 0;
    this.#overlap = 0;
    this.#bufLen = 0;
    this.#bufStart = 0;
    this.#offset = 0;
  }

  /** Gain of the synthetic signal `pos` samples into a loss (I.2.5): 1 for 10 ms, then -20 %/10 ms. */
  #gainAt(pos: number): number {
    const step = this.#step;
    if (pos <= step) return 1;
    const g = 1 - ((pos - step) * ATTEN_PER_STEP) / step;
    return g > 0 ? g : 0;
  }

  /** First lost sample: pitch estimate and a one-period buffer with a smooth wrap (I.2.2, I.2.3). */
  #startLoss(): void {
    const h = this.#histLen;
    const buf = this.#pitchBuf;
    buf.set(this.#history);
    const pitch = this.#findPitch();
    const ov = pitch >> 2;
    this.#pitch = pitch;
    this.#overlap = ov;
    for (let i = 0; i < ov; i++) this.#lastQ[i] = buf[h - ov + i]!;
    this.#offset = 0;
    this.#bufLen = pitch;
    this.#bufStart = h - pitch;
    this.#overlapTail();
  }

  /** 10 ms and 20 ms into a loss: one more period in the buffer, same phase (I.2.4). */
  #extend(): void {
    const ov = this.#overlap;
    const buf = this.#pitchBuf;
    const start = this.#bufStart;
    const len = this.#bufLen;
    let off = this.#offset;
    const saved = off;
    for (let i = 0; i < ov; i++) {
      this.#tail[i] = buf[start + off]!;
      if (++off === len) off = 0;
    }
    off = saved;
    while (off > this.#pitch) off -= this.#pitch;
    this.#offset = off;
    this.#bufLen = len + this.#pitch;
    this.#bufStart = this.#histLen - this.#bufLen;
    this.#overlapTail();
  }

  /** The buffer's last 1/4 period: the original tail fading out, the samples before the buffer fading in. */
  #overlapTail(): void {
    const ov = this.#overlap;
    if (ov === 0) return;
    const buf = this.#pitchBuf;
    const lastQ = this.#lastQ;
    const from = this.#bufStart - ov;
    const to = this.#histLen - ov;
    const incr = 1 / ov;
    let lw = 1 - incr;
    let rw = incr;
    for (let i = 0; i < ov; i++) {
      buf[to + i] = lw * lastQ[i]! + rw * buf[from + i]!;
      lw -= incr;
      rw += incr;
    }
  }

  /**
   * Pitch period by normalised cross-correlation (I.2.2): the last #corrLen samples against the
   * window `lag` samples earlier, lag in [pitchMin, pitchMax]; coarse on every #ndec-th sample and
   * lag, then every lag within #ndec - 1 of the coarse best.
   */
  #findPitch(): number {
    const buf = this.#pitchBuf;
    const corrLen = this.#corrLen;
    const ndec = this.#ndec;
    const diff = this.#pitchMax - this.#pitchMin;
    const l = this.#histLen - corrLen; // segment to match
    const r = this.#histLen - corrLen - this.#pitchMax; // earliest candidate, lag pitchMax
    let energy = 0;
    let corr = 0;
    for (let i = 0; i < corrLen; i += ndec) {
      const x = buf[r + i]!;
      energy += x * x;
      corr += x * buf[l + i]!;
    }
    let bestCorr = corr / Math.sqrt(energy > CORR_MIN_POWER ? energy : CORR_MIN_POWER);
    let best = 0;
    let rp = r;
    for (let j = ndec; j <= diff; j += ndec) {
      // Sliding energy on the decimated grid: drop the first sample, add the next beyond the window.
      const a = buf[rp]!;
      const b = buf[rp + corrLen]!;
      energy += b * b - a * a;
      rp += ndec;
      corr = 0;
      for (let i = 0; i < corrLen; i += ndec) corr += buf[rp + i]! * buf[l + i]!;
      const c = corr / Math.sqrt(energy > CORR_MIN_POWER ? energy : CORR_MIN_POWER);
      if (c >= bestCorr) {
        bestCorr = c;
        best = j;
      }
    }
    let lo = best - (ndec - 1);
    if (lo < 0) lo = 0;
    let hi = best + (ndec - 1);
    if (hi > diff) hi = diff;
    energy = 0;
    corr = 0;
    rp = r + lo;
    for (let i = 0; i < corrLen; i++) {
      const x = buf[rp + i]!;
      energy += x * x;
      corr += x * buf[l + i]!;
    }
    bestCorr = corr / Math.sqrt(energy > CORR_MIN_POWER ? energy : CORR_MIN_POWER);
    best = lo;
    for (let j = lo + 1; j <= hi; j++) {
      const a = buf[rp]!;
      const b = buf[rp + corrLen]!;
      energy += b * b - a * a;
      rp++;
      corr = 0;
      for (let i = 0; i < corrLen; i++) corr += buf[rp + i]! * buf[l + i]!;
      const c = corr / Math.sqrt(energy > CORR_MIN_POWER ? energy : CORR_MIN_POWER);
      if (c > bestCorr) {
        bestCorr = c;
        best = j;
      }
    }
    return this.#pitchMax - best;
  }

  /** Appends output to the history (I.2.1), keeping the last #histLen samples. */
  #save(pcm: Int16Array, n: number): void {
    const hist = this.#history;
    const h = this.#histLen;
    if (n >= h) {
      for (let i = 0; i < h; i++) hist[i] = pcm[n - h + i]!;
      return;
    }
    hist.copyWithin(0, n, h);
    for (let i = 0, j = h - n; i < n; i++, j++) hist[j] = pcm[i]!;
  }
}
