import { InvalidStateError, NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import type { Handlers, SpeechFinished, SpeechRequests, SpeechStartParams } from '../../protocol/index.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { SpeechSession } from './speech/SpeechSession.ts';
import { WebSocketRecognizer } from './speech/WebSocketRecognizer.ts';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_HINTS = 500;

function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ValidationError('INVALID_SPEECH', `${key} must be an integer in ${min}..${max}`);
  return v;
}

/** The control plane is typed, but the worker still checks what it connects to. */
function startParams(p: SpeechStartParams): SpeechStartParams {
  for (const key of ['sessionId', 'endpointId'] as const) {
    if (typeof p[key] !== 'string' || !ID.test(p[key]))
      throw new ValidationError('INVALID_SPEECH', `${key} must be an id of 1..128 [A-Za-z0-9_.:-]`);
  }
  let url: URL;
  try {
    url = new URL(String(p.url));
  } catch {
    throw new ValidationError('INVALID_SPEECH', 'url must be a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw new ValidationError('INVALID_SPEECH', 'url must be a ws:// or wss:// URL');
  const out: SpeechStartParams = {
    sessionId: p.sessionId,
    endpointId: p.endpointId,
    url: url.href,
    noInputMs: int(p.noInputMs, 'noInputMs', 100, 600_000),
    maxSpeechMs: int(p.maxSpeechMs, 'maxSpeechMs', 100, 600_000),
  };
  if (p.connectTimeoutMs !== undefined) out.connectTimeoutMs = int(p.connectTimeoutMs, 'connectTimeoutMs', 100, 60_000);
  if (p.resultTimeoutMs !== undefined) out.resultTimeoutMs = int(p.resultTimeoutMs, 'resultTimeoutMs', 100, 60_000);
  if (p.language !== undefined) {
    if (typeof p.language !== 'string' || !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(p.language))
      throw new ValidationError('INVALID_SPEECH', 'language must be a language tag (en, en-US)');
    out.language = p.language;
  }
  if (p.hints !== undefined) {
    if (!Array.isArray(p.hints) || p.hints.length > MAX_HINTS || !p.hints.every((h) => typeof h === 'string'))
      throw new ValidationError('INVALID_SPEECH', `hints must be a list of at most ${MAX_HINTS} strings`);
    out.hints = p.hints;
  }
  return out;
}

/**
 * Streaming speech recognition on a worker's endpoints (`speech.*` requests): each recognition
 * is a SpeechSession that watches the endpoint's talk detector (the talk engine's, through
 * `ctx.watchTalk`) and streams the utterance to a SpeechRecognizer, here a WebSocketRecognizer
 * for the request's URL, from this thread: the audio is here, so no frame crosses to the main
 * thread. It ends with one
 * `speech.finished {sessionId, endpointId, status, transcript, confidence, speechMs, error?}`.
 * One recognition per endpoint: a new one stops the current one.
 */
export class SpeechEngine implements MediaEngine<SpeechRequests> {
  readonly #ctx: WorkerContext;
  readonly #sessions = new Map<string, SpeechSession>();
  readonly #counters = { started: 0, recognized: 0, no_input: 0, no_match: 0, error: 0, stopped: 0 };
  #closed = false;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  readonly handlers: Handlers<SpeechRequests> = {
    'speech.start': (p) => this.#start(startParams(p)),
    'speech.stop': (p) => {
      const session = this.#sessions.get(String(p.sessionId));
      if (session === undefined) throw new NotFoundError('SPEECH_NOT_FOUND', `recognition ${p.sessionId} not found`);
      session.stop();
      return { ok: true };
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof SpeechRequests>(method: M, params: SpeechRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  #start(p: SpeechStartParams): { sessionId: string } {
    if (this.#closed) throw new InvalidStateError('WORKER_CLOSING', 'the media worker is shutting down');
    if (this.#sessions.has(p.sessionId))
      throw new InvalidStateError('SPEECH_EXISTS', `recognition ${p.sessionId} exists`);
    const watchTalk = this.#ctx.watchTalk;
    if (watchTalk === undefined) throw new UnsupportedError('UNSUPPORTED', 'talk detection is not available');
    const audio = this.#ctx.audio(p.endpointId);
    if (audio.endpoint.media === null)
      throw new InvalidStateError('ENDPOINT_NOT_NEGOTIATED', `endpoint ${p.endpointId} has no negotiated media yet`);
    for (const s of [...this.#sessions.values()]) if (s.endpointId === p.endpointId) s.stop();
    const recognizer = new WebSocketRecognizer(
      p.url,
      p.connectTimeoutMs !== undefined ? { connectTimeoutMs: p.connectTimeoutMs } : {},
    );
    const session = new SpeechSession(
      p,
      audio.sampleRate,
      recognizer,
      (w) => watchTalk(p.endpointId, w),
      (s, result) => this.#done(s, result),
    );
    this.#sessions.set(p.sessionId, session);
    this.#counters.started++;
    return { sessionId: p.sessionId };
  }

  #done(session: SpeechSession, result: SpeechFinished): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    this.#counters[result.status]++;
    this.#ctx.notify('speech.finished', result);
  }

  onEndpointClosed(endpointId: string): void {
    for (const s of [...this.#sessions.values()]) if (s.endpointId === endpointId) s.stop();
  }

  metrics(): Record<string, number> {
    return { active: this.#sessions.size, ...this.#counters };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions.values()]) s.stop();
  }
}
