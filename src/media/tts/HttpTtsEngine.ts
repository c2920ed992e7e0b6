import { decodeAudio } from '../playback/decodeAudio.ts';
import type { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import { fetchMedia } from '../playback/fetchMedia.ts';
import type { TtsEngine, TtsOptions, TtsResult } from './TtsEngine.ts';

export interface HttpTtsOptions {
  /** Endpoint receiving `POST {text, voice, lang, rate}` as JSON and answering with WAV (or MP3). */
  url: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxBytes?: number;
  /** Where the engine (and its redirects) may be reached; the default policy refuses loopback. */
  policy?: DestinationPolicy;
}

/** A TTS service over HTTP (a cloud engine behind a small adapter, Piper/Coqui servers...). */
export class HttpTtsEngine implements TtsEngine {
  readonly name: string;
  readonly #opts: HttpTtsOptions;

  constructor(opts: HttpTtsOptions, name = 'http') {
    this.name = name;
    this.#opts = opts;
  }

  async synthesize(text: string, opts: TtsOptions = {}): Promise<TtsResult> {
    const body = JSON.stringify({ text, voice: opts.voice, lang: opts.lang, rate: opts.rate });
    const bytes = await fetchMedia(this.#opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'audio/wav, audio/mpeg', ...this.#opts.headers },
      body,
      timeoutMs: this.#opts.timeoutMs ?? 15_000,
      maxBytes: this.#opts.maxBytes ?? 20 * 1024 * 1024,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      ...(this.#opts.policy !== undefined ? { policy: this.#opts.policy } : {}),
    });
    return decodeAudio(bytes, `${this.name} TTS answer`);
  }
}
