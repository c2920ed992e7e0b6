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
 * This is the decision part, frame by frame (voice or silence), shared by the media worker's
 * AnsweringMachineDetector (media/dsp, which classifies PCM frames) and the flows' FakeEngines
 * (which plays a scripted caller's talking). Pure: no timers, no sockets; the wall-clock limit is
 * expire() with the time elapsed since the start.
 */
import { AMD_DEFAULTS, type AmdParameters } from './amdParameters.ts';

/** AMDSTATUS, lower-cased. */
export type AmdStatus = 'human' | 'machine' | 'notsure';
/** AMDCAUSE's keyword. */
export type AmdCause =
  | 'INITIALSILENCE'
  | 'HUMAN'
  | 'LONGGREETING'
  | 'MAXWORDS'
  | 'MAXWORDLENGTH'
  | 'TOOLONG'
  | 'NOAUDIODATA';

export interface AmdResult {
  status: AmdStatus;
  cause: AmdCause;
  /** AMDCAUSE as Asterisk writes it, with its figures: `MAXWORDS-3-2`, `HUMAN-800-800`... */
  detail: string;
  /** Audio analysed (ms, frames of 20 ms). */
  analysedMs: number;
  /** Voice heard in total (ms). */
  voiceMs: number;
  /** Words counted. */
  words: number;
}

export const AMD_FRAME_MS = 20;
const IN_WORD = 1;
const IN_SILENCE = 2;

export class AmdDecision {
  readonly params: Readonly<AmdParameters>;
  #result: AmdResult | null = null;
  #frames = 0;
  #totalMs = 0;
  #silenceRun = 0;
  #inInitialSilence = true;
  #inGreeting = false;
  #voiceMs = 0;
  #consecutiveVoice = 0;
  #words = 0;
  #state = IN_WORD;

  constructor(params: Partial<AmdParameters> = {}) {
    this.params = Object.freeze({ ...AMD_DEFAULTS, ...params });
  }

  /** The decision, null while undecided. */
  get result(): AmdResult | null {
    return this.#result;
  }

  /** Frames analysed so far. */
  get frames(): number {
    return this.#frames;
  }

  /**
   * `ms` of silence without audio (a gap in the sender's timeline: silence suppression, comfort
   * noise), analysed as silent frames, as Asterisk counts CNG frames.
   */
  feedSilence(ms: number): AmdResult | null {
    if (this.#result !== null) return this.#result;
    for (let t = AMD_FRAME_MS; t <= ms; t += AMD_FRAME_MS) if (this.frame(true)) break;
    return this.#result;
  }

  /**
   * The wall-clock limit (Asterisk 13+ ties the analysis to real time too, in case frames stall):
   * `elapsedMs` since the start beyond totalAnalysisTimeMs → NOTSURE, NOAUDIODATA when no
   * frame arrived, else TOOLONG.
   */
  expire(elapsedMs: number): AmdResult | null {
    if (this.#result !== null) return this.#result;
    if (elapsedMs <= this.params.totalAnalysisTimeMs) return null;
    if (this.#frames === 0) this.#decide('notsure', 'NOAUDIODATA', `NOAUDIODATA-${this.#totalMs}`);
    else this.#decide('notsure', 'TOOLONG', `TOOLONG-${this.#totalMs}`);
    return this.#result;
  }

  /** One 20 ms frame, voice or silence; true once decided (every call after too). */
  frame(silent: boolean): boolean {
    if (this.#result !== null) return true;
    const p = this.params;
    this.#frames++;
    this.#totalMs += AMD_FRAME_MS;
    if (this.#totalMs >= p.totalAnalysisTimeMs) {
      return this.#decide('notsure', 'TOOLONG', `TOOLONG-${this.#totalMs}`);
    }
    if (silent) {
      const silence = (this.#silenceRun += AMD_FRAME_MS);
      if (silence >= p.betweenWordsSilenceMs) {
        this.#state = IN_SILENCE;
        this.#consecutiveVoice = 0;
      }
      if (this.#inInitialSilence && silence >= p.initialSilenceMs) {
        return this.#decide('machine', 'INITIALSILENCE', `INITIALSILENCE-${silence}-${p.initialSilenceMs}`);
      }
      if (this.#inGreeting && silence >= p.afterGreetingSilenceMs) {
        return this.#decide('human', 'HUMAN', `HUMAN-${silence}-${p.afterGreetingSilenceMs}`);
      }
      return false;
    }
    this.#silenceRun = 0;
    const run = (this.#consecutiveVoice += AMD_FRAME_MS);
    this.#voiceMs += AMD_FRAME_MS;
    // A word is counted when enough voice follows a silence (the first word too, after the
    // initial silence; voice from the very first frame is not a counted word, as in Asterisk).
    if (run >= p.minWordLengthMs && this.#state === IN_SILENCE) {
      this.#words++;
      this.#state = IN_WORD;
    }
    if (run >= p.maximumWordLengthMs) return this.#decide('machine', 'MAXWORDLENGTH', `MAXWORDLENGTH-${run}`);
    if (this.#words > p.maximumNumberOfWords) {
      return this.#decide('machine', 'MAXWORDS', `MAXWORDS-${this.#words}-${p.maximumNumberOfWords}`);
    }
    if (this.#inGreeting && this.#voiceMs >= p.greetingMs) {
      return this.#decide('machine', 'LONGGREETING', `LONGGREETING-${this.#voiceMs}-${p.greetingMs}`);
    }
    if (run >= p.minWordLengthMs && !this.#inGreeting) {
      this.#inInitialSilence = false;
      this.#inGreeting = true;
    }
    return false;
  }

  #decide(status: AmdStatus, cause: AmdCause, detail: string): true {
    this.#result = {
      status,
      cause,
      detail,
      analysedMs: this.#totalMs,
      voiceMs: this.#voiceMs,
      words: this.#words,
    };
    return true;
  }
}
