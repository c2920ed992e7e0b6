/**
 * Answering-machine detection as Asterisk's `AMD()` application (apps/app_amd.c) does it: received
 * audio is cut into 20 ms frames at 8 kHz, each frame is voice or silence by its average magnitude
 * against `silenceThreshold` (Asterisk's ast_dsp_silence), and a small state machine over the
 * runs of voice ("words") and silence decides:
 *
 * - silence from the start lasting `initialSilenceMs` → MACHINE, INITIALSILENCE (nobody said hello);
 * - a first word (`minWordLengthMs` of voice) opens the greeting; then silence of
 *   `afterGreetingSilenceMs` → HUMAN, HUMAN (a short "hello?" and a wait for an answer);
 * - voice adding up to `greetingMs` during the greeting → MACHINE, LONGGREETING;
 * - more than `maximumNumberOfWords` words (a new word starts after `betweenWordsSilenceMs` of
 *   silence) → MACHINE, MAXWORDS;
 * - one word of `maximumWordLengthMs` → MACHINE, MAXWORDLENGTH;
 * - `totalAnalysisTimeMs` of audio (or of wall clock, expire()) without a decision → NOTSURE,
 *   TOOLONG (NOAUDIODATA when no audio came at all).
 *
 * Defaults are Asterisk 13+'s (amd.conf.sample and app_amd.c): 2500/1500/800/5000/100/50, 2 words,
 * threshold 256, 5000 ms words. Asterisk before 13 shipped `maximum_number_of_words = 3` and
 * tested `words >= max`; from 13 on the default is 2 and the test `words > max`: the same
 * decision with the defaults (a third word means a machine). This class follows 13+.
 *
 * This class classifies PCM into frames; the decision itself is common/AmdDecision.ts. Pure: no
 * timers, no sockets; the caller feeds PCM at any rate and, for the wall-clock limit, calls
 * expire() with the time elapsed since the start.
 */
import { AMD_DEFAULTS, type AmdParameters } from '../../common/amdParameters.ts';
import { AmdDecision, type AmdCause, type AmdResult, type AmdStatus } from '../../common/AmdDecision.ts';

export { AMD_DEFAULTS, type AmdCause, type AmdParameters, type AmdResult, type AmdStatus };

const FRAME_SAMPLES = 160; // 20 ms at 8 kHz, Asterisk's slin frame

export class AnsweringMachineDetector {
  readonly params: Readonly<AmdParameters>;
  readonly #decision: AmdDecision;
  // 8 kHz decimation
  #rate = 0;
  /** In units of 1/rate s: += 8000 per input sample, an output sample each time it passes rate. */
  #phase = 0;
  #acc = 0;
  #accN = 0;
  // the current 20 ms frame: sum of |sample| and count
  #frameSum = 0;
  #frameN = 0;

  constructor(params: Partial<AmdParameters> = {}) {
    this.#decision = new AmdDecision(params);
    this.params = this.#decision.params;
  }

  /** The decision, null while undecided. */
  get result(): AmdResult | null {
    return this.#decision.result;
  }

  /** Frames of audio analysed so far. */
  get frames(): number {
    return this.#decision.frames;
  }

  /**
   * Feeds `length` samples of PCM16 at `sampleRate` (any rate; decimated to 8 kHz). Returns the
   * decision once made (and every call after), else null.
   */
  feed(pcm: Int16Array, sampleRate: number, length = pcm.length): AmdResult | null {
    if (this.#decision.result !== null) return this.#decision.result;
    if (sampleRate !== this.#rate) {
      this.#rate = sampleRate;
      this.#phase = 0;
      this.#acc = 0;
      this.#accN = 0;
    }
    const rate = this.#rate;
    for (let i = 0; i < length; i++) {
      const s = pcm[i]!;
      this.#acc += s < 0 ? -s : s;
      this.#accN++;
      this.#phase += 8000;
      if (this.#phase < rate) continue;
      this.#phase -= rate;
      // Magnitudes are averaged (not samples, which would low-pass them): the frame's value is
      // the mean magnitude over its 20 ms whatever the input rate, what Asterisk measures at 8 kHz.
      this.#frameSum += this.#acc / this.#accN;
      this.#acc = 0;
      this.#accN = 0;
      if (++this.#frameN === FRAME_SAMPLES) {
        const average = this.#frameSum / FRAME_SAMPLES;
        this.#frameSum = 0;
        this.#frameN = 0;
        if (this.#decision.frame(average < this.params.silenceThreshold)) return this.#decision.result;
      }
    }
    return null;
  }

  /** `ms` of silence without audio (a gap in the sender's timeline): see AmdDecision.feedSilence(). */
  feedSilence(ms: number): AmdResult | null {
    return this.#decision.feedSilence(ms);
  }

  /** The wall-clock limit: see AmdDecision.expire(). */
  expire(elapsedMs: number): AmdResult | null {
    return this.#decision.expire(elapsedMs);
  }
}
