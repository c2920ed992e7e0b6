import { stat } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import type { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import type { TtsService } from '../tts/TtsService.ts';
import { decodeAudioAt, type DecodedAudio } from './decodeAudio.ts';
import { fetchMedia } from './fetchMedia.ts';
import { parseMediaItem, type MediaItem, type MediaItemOptions } from './MediaItem.ts';
import type { PlaylistSource } from './Player.ts';
import { fileKey, urlKey, type PromptCache } from './PromptCache.ts';
import { openNoFollow, resolveSafePath } from './safePath.ts';

export interface ResolveContext {
  /** The endpoint's PCM rate: every source is delivered at it. */
  rate: number;
  /** Directory of `prompt:NAME` files. */
  promptsDir?: string;
  /** Directories file items may come from (a relative path is taken under the first). */
  mediaRoots?: readonly string[];
  /** Worker-wide cache of decoded audio; without one every item is decoded per call. */
  cache?: PromptCache;
  tts?: TtsService;
  signal?: AbortSignal;
  /** HTTP items: timeout, body limit, cache lifetime and where they may come from. */
  http?: { timeoutMs?: number; maxBytes?: number; ttlMs?: number; policy?: DestinationPolicy };
  /** Options for items given as strings (TTS voice, digits mode), e.g. from the playback request. */
  itemOptions?: MediaItemOptions;
}

const DEFAULT_HTTP_TTL_MS = 5 * 60_000;
/** Words for the DTMF symbols that are not digits, as spoken in en-US prompts. */
const SPOKEN: Readonly<Record<string, string>> = { '*': 'star', '#': 'pound', A: 'A', B: 'B', C: 'C', D: 'D' };

/** Digits spoken one at a time ("1 2 3", not "one hundred twenty-three"). */
export function digitsToText(digits: string): string {
  return [...digits].map((d) => SPOKEN[d] ?? d).join(' ');
}

/** Reads a file by the real path resolveSafePath() gave, refusing a link swapped in since. */
async function readNoFollow(realPath: string): Promise<Buffer> {
  const fh = await openNoFollow(realPath, 'read');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function loadFile(realPath: string, ctx: ResolveContext, what: string): Promise<DecodedAudio> {
  const st = await stat(realPath);
  if (!st.isFile()) throw new ValidationError('INVALID_MEDIA', `${what}: not a regular file`);
  const load = async (): Promise<DecodedAudio> => decodeAudioAt(await readNoFollow(realPath), ctx.rate, what);
  if (ctx.cache === undefined) return load();
  const opts = ctx.signal !== undefined ? { signal: ctx.signal } : {};
  return ctx.cache.getOrLoad(fileKey(realPath, st.mtimeMs, st.size, ctx.rate), load, opts);
}

async function findPrompt(name: string, dir: string): Promise<string> {
  for (const ext of ['.wav', '.mp3']) {
    try {
      return await resolveSafePath(`${name}${ext}`, [dir]);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  throw new NotFoundError('PROMPT_NOT_FOUND', `prompt '${name}' not found (looked for ${name}.wav and ${name}.mp3 in ${path.basename(dir)}/)`);
}

/** Turn one parsed item into a playable source at ctx.rate. */
export async function resolveItem(item: MediaItem, ctx: ResolveContext): Promise<PlaylistSource> {
  switch (item.kind) {
    case 'prompt': {
      if (ctx.promptsDir === undefined) throw new ValidationError('INVALID_MEDIA', 'prompt items need a prompts directory');
      const real = await findPrompt(item.name, ctx.promptsDir);
      return { kind: 'pcm', pcm: (await loadFile(real, ctx, `prompt:${item.name}`)).pcm, label: `prompt:${item.name}` };
    }
    case 'file': {
      const real = await resolveSafePath(item.path, ctx.mediaRoots ?? []);
      return { kind: 'pcm', pcm: (await loadFile(real, ctx, item.path)).pcm, label: item.path };
    }
    case 'url': {
      const http = ctx.http ?? {};
      const fetchOpts: Parameters<typeof fetchMedia>[1] = {};
      if (http.timeoutMs !== undefined) fetchOpts.timeoutMs = http.timeoutMs;
      if (http.maxBytes !== undefined) fetchOpts.maxBytes = http.maxBytes;
      if (http.policy !== undefined) fetchOpts.policy = http.policy;
      // The shared fetch is not tied to one caller's signal; the caller's wait is.
      const load = async (): Promise<DecodedAudio> => decodeAudioAt(await fetchMedia(item.url, fetchOpts), ctx.rate, item.url);
      let audio: DecodedAudio;
      if (ctx.cache === undefined) {
        if (ctx.signal !== undefined) fetchOpts.signal = ctx.signal;
        audio = await load();
      } else {
        const opts: { ttlMs: number; signal?: AbortSignal } = { ttlMs: http.ttlMs ?? DEFAULT_HTTP_TTL_MS };
        if (ctx.signal !== undefined) opts.signal = ctx.signal;
        audio = await ctx.cache.getOrLoad(urlKey(item.url, ctx.rate), load, opts);
      }
      return { kind: 'pcm', pcm: audio.pcm, label: item.url };
    }
    case 'tts':
    case 'digits': {
      if (item.kind === 'digits' && item.mode === 'dtmf') return { kind: 'dtmf', digits: item.digits, durationMs: item.digitDurationMs };
      if (ctx.tts === undefined) throw new UnsupportedError('TTS_UNAVAILABLE', 'no TTS service is configured');
      const text = item.kind === 'tts' ? item.text : digitsToText(item.digits);
      const opts: Parameters<TtsService['synthesize']>[1] = { sampleRate: ctx.rate };
      if (item.engine !== undefined) opts.engine = item.engine;
      if (item.voice !== undefined) opts.voice = item.voice;
      if (item.lang !== undefined) opts.lang = item.lang;
      if (item.rate !== undefined) opts.rate = item.rate;
      if (ctx.signal !== undefined) opts.signal = ctx.signal;
      const audio = await ctx.tts.synthesize(text, opts);
      return { kind: 'pcm', pcm: audio.pcm, label: item.kind === 'tts' ? 'tts' : `digits:${item.digits}` };
    }
    case 'tone':
      return { kind: 'tone', tone: item.tone };
    case 'silence':
      return { kind: 'silence', durationMs: item.durationMs };
    default:
      throw new ValidationError('INVALID_MEDIA', `unknown media item kind '${(item as { kind: string }).kind}'`);
  }
}

/**
 * Resolve a playlist (strings are parsed with parseMediaItem) into sources at ctx.rate, all items
 * concurrently, in order. Fails with the first bad item's error (ValidationError for syntax,
 * forbidden paths and fetch failures, NotFoundError for missing files), before anything plays.
 */
export async function resolvePlaylist(items: readonly (string | MediaItem)[], ctx: ResolveContext): Promise<PlaylistSource[]> {
  if (!Array.isArray(items) || items.length === 0) throw new ValidationError('INVALID_MEDIA', 'media must be a non-empty list');
  // Parse everything first so a syntax error anywhere fails fast, with no I/O started.
  const parsed = items.map((it) => (typeof it === 'string' ? parseMediaItem(it, ctx.itemOptions) : it));
  ctx.signal?.throwIfAborted();
  return Promise.all(parsed.map((it) => resolveItem(it, ctx)));
}
