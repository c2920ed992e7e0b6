export interface MixerOptions {
  /** Samples per frame at the mixing rate (20 ms: 160 at 8 kHz, 320 at 16 kHz, 960 at 48 kHz). */
  frameSamples: number;
  /** Frame duration, ms (for the talker detector's attack and release). Default 20. */
  frameMs?: number;
  /** Mix only the N loudest talkers (large rooms); 0 mixes everyone. Default 0. */
  loudestTalkers?: number;
  /** Talker detection: starts above startDbfs for attackMs, stops below stopDbfs for releaseMs. */
  talkStartDbfs?: number;
  talkStopDbfs?: number;
  attackMs?: number;
  releaseMs?: number;
  /** Level where the soft limiter starts to bend, as a fraction of full scale. Default 0.75. */
  limiterKnee?: number;
}

import { frameDbfs, TalkDetector, TALK_DEFAULTS, type TalkDetectorOptions } from './TalkDetector.ts';

const FULL = 32767;

/** Linear gain of a level in dB. */
export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

/** One input and one output of the mixer: a participant, or a source (player, tones) with no output. */
export class MixerChannel {
  /** The caller writes this tick's audio here and sets `hasInput`; mix() clears the flag. */
  readonly input: Int16Array;
  /** What this channel hears after mix(): everyone mixed but itself (zeros when deaf). */
  readonly output: Int16Array;
  /** A source only feeds the mix (player, tones): no output is computed for it. */
  readonly isSource: boolean;
  hasInput = false;
  /** Not mixed into anyone's output (its talking is still detected). */
  muted = false;
  /** Hears silence. */
  deaf = false;
  inputGain = 1;
  outputGain = 1;
  /** Talker detection (the classifier endpoints' talk detection uses too). */
  readonly talk: TalkDetector;
  /** Smoothed input level in dBFS (-100 for silence). */
  levelDbfs = -100;
  /** Set by mix(): whether this channel's audio was in the mix this tick. */
  mixed = false;
  /** Input after gain, 32-bit (a gain above 0 dB may exceed 16 bits). */
  readonly contrib: Int32Array;
  closed = false;

  constructor(frameSamples: number, isSource: boolean, talk: TalkDetectorOptions = {}) {
    this.talk = new TalkDetector(talk);
    this.input = new Int16Array(frameSamples);
    this.output = new Int16Array(isSource ? 0 : frameSamples);
    this.contrib = new Int32Array(frameSamples);
    this.isSource = isSource;
  }

  /** Talking now; `talkChanged` is true for the one mix() in which it flipped. */
  get talking(): boolean {
    return this.talk.talking;
  }

  get talkChanged(): boolean {
    return this.talk.changed;
  }

  setInputGainDb(db: number): void {
    this.inputGain = dbToGain(db);
  }

  setOutputGainDb(db: number): void {
    this.outputGain = dbToGain(db);
  }
}

/**
 * N-1 conference mixing: each participant hears the sum of everyone else, never itself.
 *
 * The sum is accumulated in 32 bits and there is no divide-by-N: a voice keeps its level however
 * many people join (averaging would drop it by 20 log10 N dB). Overload is handled by a soft
 * limiter instead: linear up to the knee, then a tanh curve that approaches full scale without
 * reaching it, so peaks bend rather than wrap or clip hard. Per channel: input and output gain,
 * mute (not mixed in), deaf (hears silence), talker detection with hysteresis (two thresholds,
 * attack and release times), and an optional N-loudest-talkers selection on smoothed levels.
 *
 * Pure: the caller writes inputs and calls mix() once per frame; nothing allocates in mix().
 */
export class Mixer {
  readonly frameSamples: number;
  loudestTalkers: number;
  /** Everyone mixed (a recorder's view of the room), after the limiter. */
  readonly fullMix: Int16Array;
  readonly #total: Int32Array;
  readonly #channels: MixerChannel[] = [];
  readonly #talk: TalkDetectorOptions;
  readonly #frameMs: number;
  readonly #knee: number;
  readonly #span: number;
  /** Mix calls and how many of them had the limiter bend at least one sample. */
  frames = 0;
  limitedFrames = 0;

  constructor(opts: MixerOptions) {
    if (!(opts.frameSamples > 0)) throw new RangeError('frameSamples must be positive');
    this.frameSamples = opts.frameSamples;
    this.loudestTalkers = opts.loudestTalkers ?? 0;
    this.fullMix = new Int16Array(opts.frameSamples);
    this.#total = new Int32Array(opts.frameSamples);
    const frameMs = opts.frameMs ?? 20;
    this.#frameMs = frameMs;
    // Attack and release in whole frames (at least one), as the mixer has always counted them.
    this.#talk = {
      startDbfs: opts.talkStartDbfs ?? TALK_DEFAULTS.startDbfs,
      stopDbfs: opts.talkStopDbfs ?? TALK_DEFAULTS.stopDbfs,
      attackMs: Math.max(1, Math.round((opts.attackMs ?? TALK_DEFAULTS.attackMs) / frameMs)) * frameMs,
      releaseMs: Math.max(1, Math.round((opts.releaseMs ?? TALK_DEFAULTS.releaseMs) / frameMs)) * frameMs,
    };
    this.#knee = Math.round(FULL * (opts.limiterKnee ?? 0.75));
    this.#span = FULL - this.#knee;
  }

  get channels(): readonly MixerChannel[] {
    return this.#channels;
  }

  add(opts: { source?: boolean } = {}): MixerChannel {
    const ch = new MixerChannel(this.frameSamples, opts.source ?? false, this.#talk);
    this.#channels.push(ch);
    return ch;
  }

  remove(ch: MixerChannel): void {
    const i = this.#channels.indexOf(ch);
    if (i >= 0) this.#channels.splice(i, 1);
    ch.closed = true;
  }

  /** Soft limiter: identity below the knee, tanh above it, bounded by full scale. */
  limit(v: number): number {
    const knee = this.#knee;
    if (v > knee) return Math.round(knee + this.#span * Math.tanh((v - knee) / this.#span));
    if (v < -knee) return -Math.round(knee + this.#span * Math.tanh((-v - knee) / this.#span));
    return v;
  }

  /** Mixes the inputs written since the last call into every channel's output and fullMix. */
  mix(): void {
    const n = this.frameSamples;
    const chans = this.#channels;
    const total = this.#total;
    total.fill(0);
    this.frames++;
    // 1. Gain, level, talker detection; candidates for the mix.
    let candidates = 0;
    for (let c = 0; c < chans.length; c++) {
      const ch = chans[c]!;
      ch.talk.changed = false;
      ch.mixed = false;
      if (!ch.hasInput) {
        this.#detect(ch, -100);
        continue;
      }
      const input = ch.input;
      const contrib = ch.contrib;
      const g = ch.inputGain;
      let db: number;
      if (g === 1) {
        for (let i = 0; i < n; i++) contrib[i] = input[i]!;
        db = frameDbfs(input, n);
      } else {
        let energy = 0;
        for (let i = 0; i < n; i++) {
          const v = Math.round(input[i]! * g);
          contrib[i] = v;
          energy += v * v;
        }
        db = energy > 0 ? 10 * Math.log10(energy / n / (32768 * 32768)) : -100;
      }
      this.#detect(ch, db);
      if (!ch.muted) {
        ch.mixed = true;
        candidates++;
      }
    }
    // 2. N loudest talkers: drop the quietest candidates (smoothed level) beyond N.
    const maxTalkers = this.loudestTalkers;
    if (maxTalkers > 0) {
      while (candidates > maxTalkers) {
        let quietest: MixerChannel | null = null;
        for (let c = 0; c < chans.length; c++) {
          const ch = chans[c]!;
          // Sources (announcements, tones) are always heard.
          if (ch.mixed && !ch.isSource && (quietest === null || ch.levelDbfs < quietest.levelDbfs)) quietest = ch;
        }
        if (quietest === null) break;
        quietest.mixed = false;
        candidates--;
      }
    }
    // 3. The 32-bit sum of everyone mixed.
    for (let c = 0; c < chans.length; c++) {
      const ch = chans[c]!;
      if (!ch.mixed) continue;
      const contrib = ch.contrib;
      for (let i = 0; i < n; i++) total[i] = total[i]! + contrib[i]!;
    }
    // 4. Each listener: the sum minus itself, output gain, limiter.
    let limited = false;
    const knee = this.#knee;
    for (let c = 0; c < chans.length; c++) {
      const ch = chans[c]!;
      ch.hasInput = false;
      if (ch.isSource) continue;
      const out = ch.output;
      if (ch.deaf) {
        out.fill(0);
        continue;
      }
      const contrib = ch.contrib;
      const own = ch.mixed;
      const g = ch.outputGain;
      for (let i = 0; i < n; i++) {
        let v = own ? total[i]! - contrib[i]! : total[i]!;
        if (g !== 1) v = Math.round(v * g);
        if (v > knee || v < -knee) {
          v = this.limit(v);
          limited = true;
        }
        out[i] = v;
      }
    }
    const full = this.fullMix;
    for (let i = 0; i < n; i++) {
      const v = total[i]!;
      full[i] = v > knee || v < -knee ? this.limit(v) : v;
    }
    if (limited) this.limitedFrames++;
  }

  /** Smoothed level, then the channel's talk classifier (TalkDetector: hysteresis, attack, release). */
  #detect(ch: MixerChannel, db: number): void {
    // Smoothed level for loudest-N: fast rise, slow fall.
    ch.levelDbfs = db > ch.levelDbfs ? db : ch.levelDbfs + (db - ch.levelDbfs) * 0.1;
    if (ch.isSource) return;
    ch.talk.update(db, this.#frameMs);
  }
}
