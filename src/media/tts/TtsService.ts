import { createHash } from 'node:crypto';
import { NotFoundError, ValidationError } from '../../common/errors.ts';
import { toRate, type DecodedAudio } from '../playback/decodeAudio.ts';
import { checkTtsOptions, MAX_TTS_TEXT, ttsTextTooLong } from '../playback/MediaItem.ts';
import type { PromptCache } from '../playback/PromptCache.ts';
import type { TtsEngine, TtsOptions } from './TtsEngine.ts';

export interface TtsServiceOptions {
  engines?: readonly TtsEngine[];
  /** Engine used when a request names none; default: the first registered. */
  defaultEngine?: string;
  /** Cache for synthesized speech (share the worker's PromptCache so one byte bound covers both). */
  cache?: PromptCache;
  /** Longest text accepted, characters; at most (and by default) MAX_TTS_TEXT. */
  maxTextLength?: number;
  /** Cached speech lifetime, ms; default: until evicted. */
  cacheTtlMs?: number;
}

export interface SynthesizeOptions extends TtsOptions {
  engine?: string;
  /** Convert to this rate (the endpoint's) before caching and returning. */
  sampleRate?: number;
  /** Skip the cache for this request (neither read nor written). */
  bypassCache?: boolean;
}

/**
 * Registry of TTS engines with a default, input limits and a cache keyed on
 * engine + voice + lang + rate + text (+ output rate), so a repeated menu prompt is synthesized once.
 */
export class TtsService {
  readonly #engines = new Map<string, TtsEngine>();
  #default: string | undefined;
  readonly #cache: PromptCache | undefined;
  readonly maxTextLength: number;
  readonly #ttlMs: number | undefined;
  #syntheses = 0;

  constructor(opts: TtsServiceOptions = {}) {
    for (const e of opts.engines ?? []) this.register(e);
    if (opts.defaultEngine !== undefined) this.setDefault(opts.defaultEngine);
    this.#cache = opts.cache;
    this.maxTextLength = Math.min(opts.maxTextLength ?? MAX_TTS_TEXT, MAX_TTS_TEXT);
    this.#ttlMs = opts.cacheTtlMs;
  }

  register(engine: TtsEngine): void {
    this.#engines.set(engine.name, engine);
    this.#default ??= engine.name;
  }

  setDefault(name: string): void {
    if (!this.#engines.has(name)) throw new NotFoundError('TTS_ENGINE_NOT_FOUND', `no TTS engine named '${name}'`);
    this.#default = name;
  }

  get defaultEngine(): string | undefined {
    return this.#default;
  }

  engineNames(): string[] {
    return [...this.#engines.keys()];
  }

  /** Engine invocations so far (cache misses that reached an engine). */
  get syntheses(): number {
    return this.#syntheses;
  }

  /** Cache key: the text is hashed to keep keys short; everything that changes the audio is in it. */
  static cacheKey(engine: string, text: string, opts: TtsOptions, sampleRate: number | undefined): string {
    const h = createHash('sha256').update(text).digest('base64url');
    return `tts:${engine}|${opts.voice ?? ''}|${opts.lang ?? ''}|${opts.rate ?? 1}|${h}@${sampleRate ?? 'native'}`;
  }

  async synthesize(text: string, opts: SynthesizeOptions = {}): Promise<DecodedAudio> {
    if (typeof text !== 'string' || text.trim().length === 0) throw new ValidationError('INVALID_TTS', 'text is empty');
    if (text.length > this.maxTextLength) throw ttsTextTooLong(text.length, this.maxTextLength);
    if (text.includes('\0')) throw new ValidationError('INVALID_TTS', 'text contains NUL');
    const name = opts.engine ?? this.#default;
    if (name === undefined) throw new NotFoundError('TTS_ENGINE_NOT_FOUND', 'no TTS engine is registered');
    const engine = this.#engines.get(name);
    if (engine === undefined) throw new NotFoundError('TTS_ENGINE_NOT_FOUND', `no TTS engine named '${name}'`);
    // Same checks as tts: items get, for callers (flows, API) that come here directly.
    const checked = checkTtsOptions('tts', { voice: opts.voice, lang: opts.lang, rate: opts.rate });
    const engineOpts: TtsOptions = {};
    if (checked.voice !== undefined) engineOpts.voice = checked.voice;
    if (checked.lang !== undefined) engineOpts.lang = checked.lang;
    if (checked.rate !== undefined) engineOpts.rate = checked.rate;
    const run = async (): Promise<DecodedAudio> => {
      this.#syntheses++;
      // The shared (cached) run must not die with the first caller's signal; uncached runs may.
      const audio = await engine.synthesize(
        text,
        opts.bypassCache === true && opts.signal !== undefined ? { ...engineOpts, signal: opts.signal } : engineOpts,
      );
      if (audio.pcm.length === 0) throw new ValidationError('TTS_FAILED', `${name}: produced no audio`);
      return opts.sampleRate === undefined ? audio : toRate(audio, opts.sampleRate);
    };
    if (this.#cache === undefined || opts.bypassCache === true) return run();
    const load: { ttlMs?: number; signal?: AbortSignal } = {};
    if (this.#ttlMs !== undefined) load.ttlMs = this.#ttlMs;
    if (opts.signal !== undefined) load.signal = opts.signal;
    return this.#cache.getOrLoad(TtsService.cacheKey(name, text, engineOpts, opts.sampleRate), run, load);
  }

  close(): void {
    for (const e of this.#engines.values()) e.close?.();
  }
}
