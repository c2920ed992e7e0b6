import type { TalkDetectOptions } from '../../../protocol/index.ts';
import { frameDbfs, TalkDetector, TALK_DEFAULTS } from '../../dsp/TalkDetector.ts';
import type { AudioTap, EndpointAudio } from '../EndpointAudio.ts';
import type { Clocked, MediaClock } from '../MediaClock.ts';

/** An engine that wants to know when the caller talks (playback barge-in, speech recognition). */
export interface TalkWatcher {
  /** Talk started (durationMs 0) or stopped (durationMs: onset to the end of the last loud frame). */
  onTalk(talking: boolean, durationMs: number): void;
  /**
   * One frame of received audio (`pcm` valid only during the call), seen before the detector
   * classifies it: the frame that starts talk arrives here first, then onTalk(true).
   */
  onFrame?(pcm: Int16Array, sampleRate: number): void;
}

/** Received audio kept for the words said just before talk was recognised (speech recognition). */
const RECENT_S = 2;
/** No audio for this long while talking (the peer went silent: DTX, comfort noise only): fed as silence. */
const AUDIO_GAP_MS = 60;
const SILENT_FRAME_MS = 20;

export function talkOptions(o: TalkDetectOptions = {}): Required<TalkDetectOptions> {
  const thresholdDbfs = o.thresholdDbfs ?? TALK_DEFAULTS.startDbfs;
  return {
    thresholdDbfs,
    silenceThresholdDbfs: Math.min(thresholdDbfs, o.silenceThresholdDbfs ?? thresholdDbfs - 10),
    minTalkMs: o.minTalkMs ?? TALK_DEFAULTS.attackMs,
    silenceMs: o.silenceMs ?? TALK_DEFAULTS.releaseMs,
  };
}

/**
 * Talk detection on one endpoint: an AudioTap on its decoded received audio feeding a
 * TalkDetector with each frame's level. Flips go to the watchers and, when the endpoint's talk
 * detection was enabled over the API (`published`), to `onPublic`. While talking it is on the
 * media clock, so a peer that stops sending (silence suppression) still ends the talk.
 */
export class EndpointTalk implements AudioTap, Clocked {
  readonly endpointId: string;
  readonly watchers = new Set<TalkWatcher>();
  published = false;
  #options: Required<TalkDetectOptions>;
  #detector: TalkDetector;
  readonly #audio: EndpointAudio;
  readonly #clock: MediaClock;
  readonly #onPublic: (talk: EndpointTalk, talking: boolean, durationMs: number) => void;
  #clocked = false;
  #lastAudioMs = 0;
  #recent = new Int16Array(0);
  #recentRate = 0;
  /** Samples written to #recent since it was (re)allocated. */
  #written = 0;
  #closed = false;

  constructor(
    endpointId: string,
    audio: EndpointAudio,
    clock: MediaClock,
    onPublic: (talk: EndpointTalk, talking: boolean, durationMs: number) => void,
  ) {
    this.endpointId = endpointId;
    this.#audio = audio;
    this.#clock = clock;
    this.#onPublic = onPublic;
    this.#options = talkOptions();
    this.#detector = this.#newDetector();
    audio.taps.add(this);
  }

  get options(): Required<TalkDetectOptions> {
    return this.#options;
  }

  get talking(): boolean {
    return this.#detector.talking;
  }

  /** New thresholds; a talk in progress goes on under them. */
  configure(options: TalkDetectOptions): void {
    const talking = this.#detector.talking;
    this.#options = talkOptions(options);
    const d = this.#newDetector();
    if (talking) {
      // The talk goes on where it was: its onset and length carry over.
      const old = this.#detector;
      d.talking = true;
      d.positionMs = old.positionMs;
      d.onsetMs = old.onsetMs;
      d.lastLoudMs = old.lastLoudMs;
    }
    this.#detector = d;
  }

  #newDetector(): TalkDetector {
    const o = this.#options;
    return new TalkDetector({
      startDbfs: o.thresholdDbfs,
      stopDbfs: o.silenceThresholdDbfs,
      attackMs: o.minTalkMs,
      releaseMs: o.silenceMs,
    });
  }

  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void {
    if (direction !== 'in' || this.#closed) return;
    const n = pcm.length;
    if (n === 0) return;
    this.#lastAudioMs = nowMs;
    this.#keep(pcm, sampleRate);
    for (const w of this.watchers) w.onFrame?.(pcm, sampleRate);
    if (this.#detector.update(frameDbfs(pcm, n), (n * 1000) / sampleRate)) this.#flipped();
  }

  onTick(nowMs: number): void {
    if (!this.#detector.talking) {
      this.#unclock();
      return;
    }
    if (nowMs - this.#lastAudioMs < AUDIO_GAP_MS) return;
    if (this.#detector.update(-100, SILENT_FRAME_MS)) this.#flipped();
  }

  /**
   * The last `ms` of received audio (at most RECENT_S s), oldest first, and its rate: the start of
   * an utterance recognised after it began.
   */
  recent(ms: number): { pcm: Int16Array; sampleRate: number } {
    const ring = this.#recent;
    const rate = this.#recentRate;
    const n = Math.min(Math.round((ms * rate) / 1000), ring.length, this.#written);
    const out = new Int16Array(n);
    const start = this.#written - n;
    for (let i = 0; i < n; i++) out[i] = ring[(start + i) % ring.length]!;
    return { pcm: out, sampleRate: rate };
  }

  /** How far back the current talk began, ms (0 when not talking). */
  get sinceOnsetMs(): number {
    const d = this.#detector;
    return d.talking ? d.positionMs - d.onsetMs : 0;
  }

  #keep(pcm: Int16Array, rate: number): void {
    if (rate !== this.#recentRate) {
      // A codec change: what was kept at the old rate is dropped (allocates once per rate).
      this.#recent = new Int16Array(rate * RECENT_S);
      this.#recentRate = rate;
      this.#written = 0;
    }
    const ring = this.#recent;
    const size = ring.length;
    let at = this.#written % size;
    for (let i = 0; i < pcm.length; i++) {
      ring[at] = pcm[i]!;
      if (++at === size) at = 0;
    }
    this.#written += pcm.length;
  }

  #flipped(): void {
    const d = this.#detector;
    const duration = d.talking ? 0 : Math.round(d.talkMs);
    if (d.talking && !this.#clocked) {
      this.#clocked = true;
      this.#clock.add(this);
    }
    for (const w of [...this.watchers]) w.onTalk(d.talking, duration);
    if (this.published) this.#onPublic(this, d.talking, duration);
  }

  #unclock(): void {
    if (!this.#clocked) return;
    this.#clocked = false;
    this.#clock.delete(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unclock();
    this.#audio.taps.delete(this);
    this.watchers.clear();
  }
}
