import type { SpeechFinished, SpeechStartParams, SpeechStatus } from '../../../protocol/index.ts';
import type { EndpointTalk, TalkWatcher } from '../talk/EndpointTalk.ts';
import type { RecognizerStream, SpeechRecognizer } from './SpeechRecognizer.ts';

/** Audio sent from before the onset the detector found: the soft start of a word is below the threshold. */
export const PREROLL_MS = 300;
const DEFAULT_RESULT_TIMEOUT_MS = 5000;

type Phase = 'waiting' | 'speaking' | 'finishing' | 'done';

/**
 * One recognition of one utterance on one endpoint, through a streaming SpeechRecognizer.
 *
 * Endpointing comes from the endpoint's talk detector: nothing is written before the caller
 * talks (then the talk from PREROLL_MS before its onset, and the live audio), the silence that
 * ends the talk ends the utterance (`end()`), as does maxSpeechMs of talk. No talk within
 * noInputMs is a no_input; a final with an empty transcript a no_match; a final must come within
 * resultTimeoutMs of the end. The recogniser's stream is opened at once (a WebSocket connects
 * while the caller has not spoken yet) and lives in the media worker beside the audio, so frames
 * never cross threads.
 */
export class SpeechSession implements TalkWatcher {
  readonly id: string;
  readonly endpointId: string;
  readonly #params: SpeechStartParams;
  readonly #rate: number;
  readonly #onDone: (session: SpeechSession, result: SpeechFinished) => void;
  readonly #talk: EndpointTalk;
  readonly #off: () => void;
  readonly #stream: RecognizerStream;
  #phase: Phase = 'waiting';
  #writtenSamples = 0;
  #lastPartial = '';
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    params: SpeechStartParams,
    sampleRate: number,
    recognizer: SpeechRecognizer,
    watch: (watcher: TalkWatcher) => { talk: EndpointTalk; off: () => void },
    onDone: (session: SpeechSession, result: SpeechFinished) => void,
  ) {
    this.id = params.sessionId;
    this.endpointId = params.endpointId;
    this.#params = params;
    this.#rate = sampleRate;
    this.#onDone = onDone;
    const open: Parameters<SpeechRecognizer['open']>[0] = {
      sessionId: params.sessionId,
      endpointId: params.endpointId,
      sampleRate,
    };
    if (params.language !== undefined) open.language = params.language;
    if (params.hints !== undefined) open.hints = params.hints;
    this.#stream = recognizer.open(open, {
      partial: (t) => {
        this.#lastPartial = t;
      },
      // A recogniser that endpoints on its own may answer before our end().
      final: (t, c) => {
        if (t !== '') this.#finish('recognized', t, c);
        else this.#finish(this.#writtenSamples > 0 ? 'no_match' : 'no_input', '', 0);
      },
      error: (message) => this.#finish('error', '', 0, message),
    });
    const { talk, off } = watch(this);
    this.#talk = talk;
    this.#off = off;
    this.#after(params.noInputMs, () => {
      if (this.#phase === 'waiting') this.#finish('no_input', '', 0);
    });
    // Speech that started before the recognition (it barged in on the prompt) is this utterance.
    if (talk.talking) this.#begin();
  }

  get phase(): Phase {
    return this.#phase;
  }

  onTalk(talking: boolean): void {
    if (talking && this.#phase === 'waiting') this.#begin();
    else if (!talking && this.#phase === 'speaking') this.#endUtterance();
  }

  onFrame(pcm: Int16Array, sampleRate: number): void {
    if (this.#phase !== 'speaking' || sampleRate !== this.#rate) return;
    this.#write(pcm);
  }

  /** Ends the recognition now: `stopped`, or a final error status. */
  stop(status: SpeechStatus = 'stopped', error?: string): void {
    this.#finish(status, '', 0, error);
  }

  #begin(): void {
    this.#phase = 'speaking';
    const { pcm, sampleRate } = this.#talk.recent(this.#talk.sinceOnsetMs + PREROLL_MS);
    if (sampleRate === this.#rate) this.#write(pcm);
    this.#after(this.#params.maxSpeechMs, () => {
      if (this.#phase === 'speaking') this.#endUtterance();
    });
  }

  #write(pcm: Int16Array): void {
    this.#writtenSamples += pcm.length;
    this.#stream.write(pcm);
  }

  #endUtterance(): void {
    this.#phase = 'finishing';
    this.#stream.end();
    this.#after(this.#params.resultTimeoutMs ?? DEFAULT_RESULT_TIMEOUT_MS, () => {
      if (this.#phase === 'finishing') this.#finish('error', '', 0, 'no final result from the recogniser in time');
    });
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #finish(status: SpeechStatus, transcript: string, confidence: number, error?: string): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    // An error from the recogniser can come while the constructor opens it: nothing to unwatch yet.
    this.#off?.();
    this.#stream?.close();
    const result: SpeechFinished = {
      sessionId: this.id,
      endpointId: this.endpointId,
      status,
      transcript,
      confidence,
      speechMs: Math.round((this.#writtenSamples * 1000) / this.#rate),
    };
    if (error !== undefined) result.error = error;
    if (status === 'error' && this.#lastPartial !== '') result.transcript = this.#lastPartial;
    this.#onDone(this, result);
  }
}
