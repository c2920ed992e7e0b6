import WebSocket from 'ws';
import type {
  RecognizerEvents,
  RecognizerOpenOptions,
  RecognizerStream,
  SpeechRecognizer,
} from './SpeechRecognizer.ts';

/** Audio is sent in chunks of this length (fewer, larger WebSocket messages than one per packet). */
const CHUNK_MS = 100;
/** Audio queued while the socket is still connecting, at most (then the recognition fails). */
const MAX_QUEUED_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Largest message taken from a recogniser. */
const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * A recogniser reached over WebSocket with the protocol in README ("Speech recognisers"): one
 * connection per utterance; a JSON `start` (rate, encoding l16 little-endian, language, hints),
 * binary PCM, a JSON `stop`; answers `partial` (any number), one `final {transcript,
 * confidence}`, or `error {message}`. What is written before the connection is open is queued.
 */
export class WebSocketRecognizer implements SpeechRecognizer {
  readonly url: string;
  readonly connectTimeoutMs: number;

  constructor(url: string, options: { connectTimeoutMs?: number } = {}) {
    this.url = url;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  open(options: RecognizerOpenOptions, events: RecognizerEvents): RecognizerStream {
    return new WebSocketStream(this, options, events);
  }
}

class WebSocketStream implements RecognizerStream {
  readonly #ws: WebSocket;
  readonly #options: RecognizerOpenOptions;
  readonly #events: RecognizerEvents;
  readonly #chunk: Int16Array;
  #chunkLength = 0;
  /** Binary audio and, last, the `stop` text, while connecting. */
  readonly #queued: Array<{ data: Buffer; binary: boolean }> = [];
  #queuedSamples = 0;
  #closed = false;

  constructor(owner: WebSocketRecognizer, options: RecognizerOpenOptions, events: RecognizerEvents) {
    this.#options = options;
    this.#events = events;
    this.#chunk = new Int16Array(Math.max(1, Math.round((options.sampleRate * CHUNK_MS) / 1000)));
    this.#ws = new WebSocket(owner.url, {
      handshakeTimeout: owner.connectTimeoutMs,
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    this.#ws.on('open', () => this.#opened());
    this.#ws.on('message', (data, isBinary) => this.#message(data, isBinary));
    this.#ws.on('error', (err) => this.#fail(`recogniser: ${err.message}`));
    this.#ws.on('close', () => this.#fail('the recogniser closed the connection before a result'));
  }

  write(pcm: Int16Array): void {
    if (this.#closed) return;
    const chunk = this.#chunk;
    for (let i = 0; i < pcm.length; i++) {
      chunk[this.#chunkLength++] = pcm[i]!;
      if (this.#chunkLength === chunk.length) this.#flush();
    }
  }

  end(): void {
    if (this.#closed) return;
    this.#flush();
    this.#send(Buffer.from(JSON.stringify({ type: 'stop' })), false);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queued.length = 0;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    else this.#ws.terminate();
  }

  /** Sends what the chunk holds as little-endian 16-bit PCM. */
  #flush(): void {
    const n = this.#chunkLength;
    if (n === 0) return;
    this.#chunkLength = 0;
    const bytes = Buffer.allocUnsafe(n * 2);
    for (let i = 0; i < n; i++) bytes.writeInt16LE(this.#chunk[i]!, i * 2);
    this.#send(bytes, true);
  }

  #send(data: Buffer, binary: boolean): void {
    if (this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.send(data, { binary });
      return;
    }
    if (binary) this.#queuedSamples += data.length / 2;
    if (this.#queuedSamples > (this.#options.sampleRate * MAX_QUEUED_MS) / 1000) {
      this.#fail('the recogniser did not accept the connection in time');
      return;
    }
    this.#queued.push({ data, binary });
  }

  #opened(): void {
    if (this.#closed) return;
    const o = this.#options;
    const start: Record<string, unknown> = {
      type: 'start',
      session_id: o.sessionId,
      endpoint_id: o.endpointId,
      sample_rate: o.sampleRate,
      encoding: 'l16',
      byte_order: 'little',
      channels: 1,
    };
    if (o.language !== undefined) start.language = o.language;
    if (o.hints !== undefined && o.hints.length > 0) start.hints = o.hints;
    this.#ws.send(JSON.stringify(start));
    for (const q of this.#queued.splice(0)) this.#ws.send(q.data, { binary: q.binary });
    this.#queuedSamples = 0;
  }

  #message(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary || this.#closed) return;
    let m: unknown;
    try {
      m = JSON.parse(data.toString());
    } catch {
      this.#fail('the recogniser sent a message that is not JSON');
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { type?: unknown; transcript?: unknown; confidence?: unknown; message?: unknown };
    const transcript = typeof msg.transcript === 'string' ? msg.transcript.trim() : '';
    if (msg.type === 'partial') this.#events.partial(transcript);
    else if (msg.type === 'final') {
      const c = msg.confidence;
      const confidence = typeof c === 'number' && Number.isFinite(c) ? Math.min(1, Math.max(0, c)) : 0;
      this.close();
      this.#events.final(transcript, confidence);
    } else if (msg.type === 'error') {
      this.#fail(`recogniser: ${typeof msg.message === 'string' ? msg.message : 'error'}`);
    }
  }

  #fail(message: string): void {
    if (this.#closed) return;
    this.close();
    this.#events.error(message);
  }
}
