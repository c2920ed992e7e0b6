import { randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from '../../common/errors.ts';
import type { SpeechFinished, SpeechStartParams, SpeechStatus } from '../../protocol/index.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface SpeechHost extends WorkerRequester {
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
}

export interface RecognizeOptions {
  /** ws:// or wss:// recogniser; default the server's SPEECH_RECOGNIZER_URL. */
  url?: string;
  language?: string;
  hints?: string[];
  /** No talk within this time is a no_input. */
  noInputMs: number;
  /** Talk longer than this is cut and recognised as it is. */
  maxSpeechMs: number;
  /** Settles promptly with status 'stopped' (the recognition is stopped in the worker). */
  signal?: AbortSignal;
}

export interface RecognizeResult {
  status: SpeechStatus;
  transcript: string;
  confidence: number;
  speechMs: number;
  error?: string;
}

interface Pending {
  endpointId: string;
  worker: number;
  resolve: (r: RecognizeResult) => void;
}

/**
 * Speech recognition on the control plane: starts a recognition in the endpoint's worker
 * (`speech.start`; the worker streams the caller's utterance to the recogniser, so audio never
 * crosses threads) and settles with what `speech.finished` reports. For flows' `collect` with
 * `input: speech | both`.
 */
export class SpeechService {
  readonly #host: SpeechHost;
  readonly #defaultUrl: string | null;
  readonly #pending = new Map<string, Pending>();

  constructor(host: SpeechHost, options: { defaultUrl?: string | null } = {}) {
    this.#host = host;
    this.#defaultUrl = options.defaultUrl ?? null;
  }

  /** Whether a recogniser is configured (a step may still name its own). */
  get defaultUrl(): string | null {
    return this.#defaultUrl;
  }

  /** One utterance: resolves with its transcript, or no_input / no_match / error / stopped. */
  async recognize(endpointId: string, opts: RecognizeOptions): Promise<RecognizeResult> {
    if (!this.#host.hasEndpoint(endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
    const url = opts.url ?? this.#defaultUrl;
    if (url === null || url === '')
      throw new ValidationError(
        'NO_RECOGNIZER',
        'speech input needs a recogniser: set SPEECH_RECOGNIZER_URL or the step speech.url',
      );
    const signal = opts.signal;
    if (signal?.aborted) return { status: 'stopped', transcript: '', confidence: 0, speechMs: 0 };
    const sessionId = `speech-${randomUUID()}`;
    const worker = this.#host.workerOf(endpointId);
    const params: SpeechStartParams = {
      sessionId,
      endpointId,
      url,
      noInputMs: opts.noInputMs,
      maxSpeechMs: opts.maxSpeechMs,
    };
    if (opts.language !== undefined) params.language = opts.language;
    if (opts.hints !== undefined) params.hints = opts.hints;
    const done = new Promise<RecognizeResult>((resolve) => {
      this.#pending.set(sessionId, { endpointId, worker, resolve });
    });
    let started = false;
    const stop = (): void => {
      this.#host.request(worker, 'speech.stop', { sessionId }).catch(() => {
        /* already finished, or the endpoint went: its speech.finished settles it */
      });
    };
    // An abort while the start is on its way stops the recognition once it has started.
    const onAbort = (): void => {
      if (started) stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#host.request(worker, 'speech.start', params);
    } catch (err) {
      this.#pending.delete(sessionId);
      signal?.removeEventListener('abort', onAbort);
      throw err;
    }
    started = true;
    if (signal?.aborted) stop();
    try {
      return await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The worker's `speech.finished`. */
  onFinished(n: SpeechFinished): void {
    const p = this.#pending.get(n.sessionId);
    if (p === undefined) return;
    this.#pending.delete(n.sessionId);
    const r: RecognizeResult = {
      status: n.status,
      transcript: n.transcript,
      confidence: n.confidence,
      speechMs: n.speechMs,
    };
    if (n.error !== undefined) r.error = n.error;
    p.resolve(r);
  }

  /** The worker died: its recognitions are gone. */
  workerDied(index: number): void {
    for (const [id, p] of [...this.#pending]) {
      if (p.worker !== index) continue;
      this.#pending.delete(id);
      p.resolve({ status: 'error', transcript: '', confidence: 0, speechMs: 0, error: 'the media worker died' });
    }
  }

  close(): void {
    for (const [id, p] of [...this.#pending]) {
      this.#pending.delete(id);
      p.resolve({ status: 'stopped', transcript: '', confidence: 0, speechMs: 0 });
    }
  }
}
