import type { AmdParameters } from '../../../common/amdParameters.ts';
import { AnsweringMachineDetector, type AmdResult } from '../../dsp/AnsweringMachineDetector.ts';
import type { AudioTap, EndpointAudio } from '../EndpointAudio.ts';
import type { Clocked, MediaClock } from '../MediaClock.ts';

/**
 * One detection on one endpoint: taps its decoded received audio into an
 * AnsweringMachineDetector and watches the wall clock (total analysis time, also when no packet
 * comes). Calls `onDecided` once with the decision, then detaches itself.
 */
export class EndpointAmd implements AudioTap, Clocked {
  readonly id: string;
  readonly endpointId: string;
  readonly #detector: AnsweringMachineDetector;
  readonly #audio: EndpointAudio;
  readonly #clock: MediaClock;
  readonly #onDecided: (amd: EndpointAmd, result: AmdResult) => void;
  #startMs = 0;
  #epoch = -1;
  /** Where the sender's timeline should go on (samples), -1 before the first frame of an epoch. */
  #next = -1;
  #closed = false;

  constructor(
    id: string,
    endpointId: string,
    audio: EndpointAudio,
    clock: MediaClock,
    parameters: Partial<AmdParameters>,
    onDecided: (amd: EndpointAmd, result: AmdResult) => void,
  ) {
    this.id = id;
    this.endpointId = endpointId;
    this.#audio = audio;
    this.#clock = clock;
    this.#detector = new AnsweringMachineDetector(parameters);
    this.#onDecided = onDecided;
  }

  start(nowMs: number): void {
    this.#startMs = nowMs;
    this.#audio.taps.add(this);
    this.#clock.add(this);
  }

  onAudio(
    pcm: Int16Array,
    sampleRate: number,
    direction: 'in' | 'out',
    _nowMs: number,
    position: number,
    epoch: number,
  ): void {
    if (direction !== 'in' || this.#closed) return;
    // A gap in the sender's timeline within one stream (silence suppression, loss beyond
    // concealment) is silence that took time: analysed as such, as Asterisk counts CNG frames.
    if (epoch === this.#epoch && this.#next >= 0 && position > this.#next) {
      const gapMs = ((position - this.#next) * 1000) / sampleRate;
      const r = this.#detector.feedSilence(Math.min(gapMs, this.#detector.params.totalAnalysisTimeMs));
      if (r !== null) {
        this.#decided(r);
        return;
      }
    }
    this.#epoch = epoch;
    this.#next = position + pcm.length;
    const r = this.#detector.feed(pcm, sampleRate);
    if (r !== null) this.#decided(r);
  }

  onTick(nowMs: number): void {
    if (this.#closed) return;
    const r = this.#detector.expire(nowMs - this.#startMs);
    if (r !== null) this.#decided(r);
  }

  #decided(result: AmdResult): void {
    this.close();
    this.#onDecided(this, result);
  }

  /** Detaches from the endpoint and the clock (idempotent); no decision is reported after. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#audio.taps.delete(this);
    this.#clock.delete(this);
  }
}
