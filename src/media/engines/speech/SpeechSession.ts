import WebSocket from 'ws';
import type { SpeechFinished, SpeechStartParams, SpeechStatus } from '../../../protocol/index.ts';
import type { EndpointTalk, TalkWatcher } from '../talk/EndpointTalk.ts';

/** Audio sent from before the onset the detector found: the soft start of a word is below the threshold. */
export const PREROLL_MS = 300;
/** Audio is sent in chunks of this length (fewer, larger WebSocket messages than one per packet). */
const CHUNK_MS = 100;
/** Audio queued while the socket is still connecting, at most (then the recognition fails). */
const MAX_QUEUED_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_RESULT_TIMEOUT_MS = 5000;
/** Largest message taken from a recogniser. */
const MAX_MESSAGE_BYTES = 64 * 1024;

type Phase = 'waiting' | 'speaking' | 'finishing' | 'done';

/**
 * One streaming recognition on one endpoint, over WebSocket to an external recogniser (protocol
 * in README, "Speech recognisers"): a JSON `start` (rate, encoding l16 little-endian, language,
 * hints), then binary PCM of the utterance, then a JSON `stop`; the recogniser answers `partial`
 * (any number, informational) and one `final {transcript, confidence}`.
 *
 * Endpointing comes from the endpoint's talk detector: nothing is sent before the caller talks
 * (then the talk from PREROLL_MS before its onset), silence after the talk ends the utterance
 * (`stop`). No talk within noInputMs is a no_input; a final with an empty transcript a no_match.
 * The socket lives in the media worker beside the audio, so frames never cross threads.
 */
export class SpeechSession implements TalkWatcher {
  readonly id: string;
  readonly endpointId: string;
  readonly #params: SpeechStartParams;
  readonly #onDone: (session: SpeechSession, result: SpeechFinished) => void;
  readonly #talk: EndpointTalk;
  readonly #off: () => void;
  readonly #ws: WebSocket;
  #phase: Phase = 'waiting';
  #rate = 8000;
  #chunk = new Int16Array(800);
  #chunkLength = 0;
  readonly #queued: Buffer[] = [];
  #queuedSamples = 0;
  #sentSamples = 0;
  #lastPartial = '';
  /** The `stop` queued while connecting: sent as text, the rest of the queue as binary. */
  #stopMessage: Buffer | null = null;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    params: SpeechStartParams,
    sampleRate: number,
    watch: (watcher: TalkWatcher) => { talk: EndpointTalk; off: () => void },
    onDone: (session: SpeechSession, result: SpeechFinished) => void,
  ) {
    this.id = params.sessionId;
    this.endpointId = params.endpointId;
    this.#params = params;
    this.#onDone = onDone;
    this.#setRate(sampleRate);
    this.#ws = new WebSocket(params.url, {
      handshakeTimeout: params.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    this.#ws.on('open', () => this.#opened());
    this.#ws.on('message', (data, isBinary) => this.#message(data, isBinary));
    this.#ws.on('error', (err) => this.#finish('error', '', 0, `recogniser: ${err.message}`));
    this.#ws.on('close', () => {
      if (this.#phase !== 'done') this.#finish('error', '', 0, 'the recogniser closed the connection before a result');
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
    this.#push(pcm);
  }

  /** Ends the recognition now: `stopped`, or a final error status. */
  stop(status: SpeechStatus = 'stopped', error?: string): void {
    this.#finish(status, '', 0, error);
  }

  #begin(): void {
    this.#phase = 'speaking';
    const { pcm, sampleRate } = this.#talk.recent(this.#talk.sinceOnsetMs + PREROLL_MS);
    if (sampleRate > 0) this.#setRate(sampleRate);
    this.#push(pcm);
    this.#after(this.#params.maxSpeechMs, () => {
      if (this.#phase === 'speaking') this.#endUtterance();
    });
  }

  #setRate(rate: number): void {
    if (rate === this.#rate) return;
    this.#rate = rate;
    this.#chunk = new Int16Array(Math.round((rate * CHUNK_MS) / 1000));
    this.#chunkLength = 0;
  }

  #push(pcm: Int16Array): void {
    const chunk = this.#chunk;
    for (let i = 0; i < pcm.length; i++) {
      chunk[this.#chunkLength++] = pcm[i]!;
      if (this.#chunkLength === chunk.length) this.#flush();
    }
  }

  /** Sends what the chunk holds as little-endian 16-bit PCM. */
  #flush(): void {
    const n = this.#chunkLength;
    if (n === 0) return;
    this.#chunkLength = 0;
    const bytes = Buffer.allocUnsafe(n * 2);
    for (let i = 0; i < n; i++) bytes.writeInt16LE(this.#chunk[i]!, i * 2);
    this.#sentSamples += n;
    this.#send(bytes);
  }

  #send(data: Buffer | string): void {
    if (this.#phase === 'done') return;
    if (this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.send(data);
      return;
    }
    if (typeof data !== 'string') this.#queuedSamples += data.length / 2;
    if (this.#queuedSamples > (this.#rate * MAX_QUEUED_MS) / 1000) {
      this.#finish('error', '', 0, 'the recogniser did not accept the connection in time');
      return;
    }
    this.#queued.push(typeof data === 'string' ? Buffer.from(data) : data);
  }

  #opened(): void {
    if (this.#phase === 'done') return;
    const start: Record<string, unknown> = {
      type: 'start',
      session_id: this.id,
      endpoint_id: this.endpointId,
      sample_rate: this.#rate,
      encoding: 'l16',
      byte_order: 'little',
      channels: 1,
    };
    if (this.#params.language !== undefined) start.language = this.#params.language;
    if (this.#params.hints !== undefined && this.#params.hints.length > 0) start.hints = this.#params.hints;
    this.#ws.send(JSON.stringify(start));
    // What was said while connecting: audio as binary, the stop as text.
    for (const b of this.#queued.splice(0)) this.#ws.send(b, { binary: b !== this.#stopMessage });
    this.#queuedSamples = 0;
  }

  #endUtterance(): void {
    this.#phase = 'finishing';
    this.#flush();
    const stop = JSON.stringify({ type: 'stop' });
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(stop);
    else {
      this.#stopMessage = Buffer.from(stop);
      this.#queued.push(this.#stopMessage);
    }
    this.#after(this.#params.resultTimeoutMs ?? DEFAULT_RESULT_TIMEOUT_MS, () => {
      if (this.#phase === 'finishing') this.#finish('error', '', 0, 'no final result from the recogniser in time');
    });
  }

  #message(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary || this.#phase === 'done') return;
    let m: unknown;
    try {
      m = JSON.parse(data.toString());
    } catch {
      this.#finish('error', '', 0, 'the recogniser sent a message that is not JSON');
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { type?: unknown; transcript?: unknown; confidence?: unknown; message?: unknown };
    const transcript = typeof msg.transcript === 'string' ? msg.transcript.trim() : '';
    const confidence =
      typeof msg.confidence === 'number' && Number.isFinite(msg.confidence)
        ? Math.min(1, Math.max(0, msg.confidence))
        : 0;
    if (msg.type === 'partial') this.#lastPartial = transcript;
    else if (msg.type === 'final') {
      // A recogniser that endpoints on its own may answer before our stop.
      if (transcript === '') this.#finish(this.#sentSamples > 0 ? 'no_match' : 'no_input', '', 0);
      else this.#finish('recognized', transcript, confidence);
    } else if (msg.type === 'error') {
      this.#finish('error', '', 0, `recogniser: ${typeof msg.message === 'string' ? msg.message : 'error'}`);
    }
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
    this.#off();
    this.#queued.length = 0;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    else this.#ws.terminate();
    const result: SpeechFinished = {
      sessionId: this.id,
      endpointId: this.endpointId,
      status,
      transcript,
      confidence,
      speechMs: Math.round((this.#sentSamples * 1000) / this.#rate),
    };
    if (error !== undefined) result.error = error;
    if (status === 'error' && this.#lastPartial !== '') result.transcript = this.#lastPartial;
    this.#onDone(this, result);
  }
}
