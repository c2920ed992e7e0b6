import { stat } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import type { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import type { AudioPrep, PrepRequest } from '../prep/AudioPrep.ts';
import type { TtsService } from '../tts/TtsService.ts';
import { decodeAudioAt, type DecodedAudio } from './decodeAudio.ts';
import { fetchMedia } from './fetchMedia.ts';
import { parseMediaItem, type MediaItem, type MediaItemOptions } from './MediaItem.ts';
import type { PlaylistSource } from './Player.ts';
import { fileKey, urlKey, type PromptCache } from './PromptCache.ts';
import { openNoFollow, resolveSafePath } from '../../common/safePath.ts';

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
  /**
   * Where decoding and synthesis run (the TTS and decode pool, off the media thread). Without
   * one they run on the calling thread with `cache` and `tts` (tools, tests).
   */
  prep?: AudioPrep;
  signal?: AbortSignal;
  /**
   * HTTP items: timeout, body limit, cache lifetime and where they may come from (the policy
   * applies here on the calling thread; through `prep`, the pool applies its own).
   */
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
  throw new NotFoundError(
    'PROMPT_NOT_FOUND',
    `prompt '${name}' not found (looked for ${name}.wav and ${name}.mp3 in ${path.basename(dir)}/)`,
  );
}

/** Labels of pcm entries, as playback events and errors name them. */
function labelOf(item: MediaItem): string {
  switch (item.kind) {
    case 'prompt':
      return `prompt:${item.name}`;
    case 'file':
      return item.path;
    case 'url':
      return item.url;
    case 'digits':
      return `digits:${item.digits}`;
    default:
      return item.kind;
  }
}

/**
 * What a decoded or synthesised item needs prepared (paths resolved and checked against the media
 * roots here: cheap, asynchronous I/O); undefined for entries generated on the media clock (tone,
 * silence, DTMF).
 */
async function prepRequestOf(item: MediaItem, ctx: ResolveContext): Promise<PrepRequest | undefined> {
  switch (item.kind) {
    case 'prompt': {
      if (ctx.promptsDir === undefined)
        throw new ValidationError('INVALID_MEDIA', 'prompt items need a prompts directory');
      return {
        kind: 'file',
        path: await findPrompt(item.name, ctx.promptsDir),
        sampleRate: ctx.rate,
        label: `prompt:${item.name}`,
      };
    }
    case 'file':
      return {
        kind: 'file',
        path: await resolveSafePath(item.path, ctx.mediaRoots ?? []),
        sampleRate: ctx.rate,
        label: item.path,
      };
    case 'url': {
      const http = ctx.http ?? {};
      const req: {
        kind: 'url';
        url: string;
        sampleRate: number;
        timeoutMs?: number;
        maxBytes?: number;
        ttlMs?: number;
      } = { kind: 'url', url: item.url, sampleRate: ctx.rate };
      if (http.timeoutMs !== undefined) req.timeoutMs = http.timeoutMs;
      if (http.maxBytes !== undefined) req.maxBytes = http.maxBytes;
      if (http.ttlMs !== undefined) req.ttlMs = http.ttlMs;
      return req;
    }
    case 'tts':
    case 'digits': {
      if (item.kind === 'digits' && item.mode === 'dtmf') return undefined;
      if (ctx.prep === undefined && ctx.tts === undefined)
        throw new UnsupportedError('TTS_UNAVAILABLE', 'no TTS service is configured');
      const req: {
        kind: 'tts';
        text: string;
        sampleRate: number;
        engine?: string;
        voice?: string;
        lang?: string;
        rate?: number;
      } = {
        kind: 'tts',
        text: item.kind === 'tts' ? item.text : digitsToText(item.digits),
        sampleRate: ctx.rate,
      };
      if (item.engine !== undefined) req.engine = item.engine;
      if (item.voice !== undefined) req.voice = item.voice;
      if (item.lang !== undefined) req.lang = item.lang;
      if (item.rate !== undefined) req.rate = item.rate;
      return req;
    }
    default:
      return undefined;
  }
}

/** Prepare the audio: through ctx.prep (off this thread), else here with ctx.cache and ctx.tts. */
async function load(req: PrepRequest, ctx: ResolveContext): Promise<DecodedAudio> {
  if (ctx.prep !== undefined) return ctx.prep.prepare(req, ctx.signal);
  switch (req.kind) {
    case 'file':
      return loadFile(req.path, ctx, req.label);
    case 'url': {
      const fetchOpts: Parameters<typeof fetchMedia>[1] = {};
      if (req.timeoutMs !== undefined) fetchOpts.timeoutMs = req.timeoutMs;
      if (req.maxBytes !== undefined) fetchOpts.maxBytes = req.maxBytes;
      if (ctx.http?.policy !== undefined) fetchOpts.policy = ctx.http.policy;
      // The shared fetch is not tied to one caller's signal; the caller's wait is.
      const fetchAndDecode = async (): Promise<DecodedAudio> =>
        decodeAudioAt(await fetchMedia(req.url, fetchOpts), ctx.rate, req.url);
      if (ctx.cache === undefined) {
        if (ctx.signal !== undefined) fetchOpts.signal = ctx.signal;
        return fetchAndDecode();
      }
      const opts: { ttlMs: number; signal?: AbortSignal } = { ttlMs: req.ttlMs ?? DEFAULT_HTTP_TTL_MS };
      if (ctx.signal !== undefined) opts.signal = ctx.signal;
      return ctx.cache.getOrLoad(urlKey(req.url, ctx.rate), fetchAndDecode, opts);
    }
    case 'tts': {
      const opts: Parameters<TtsService['synthesize']>[1] = { sampleRate: ctx.rate };
      if (req.engine !== undefined) opts.engine = req.engine;
      if (req.voice !== undefined) opts.voice = req.voice;
      if (req.lang !== undefined) opts.lang = req.lang;
      if (req.rate !== undefined) opts.rate = req.rate;
      if (ctx.signal !== undefined) opts.signal = ctx.signal;
      return (ctx.tts as TtsService).synthesize(req.text, opts);
    }
  }
}

/** A source played on the media clock as it is (tone, silence, DTMF). */
function clockSource(item: MediaItem): PlaylistSource {
  switch (item.kind) {
    case 'tone':
      return { kind: 'tone', tone: item.tone };
    case 'silence':
      return { kind: 'silence', durationMs: item.durationMs };
    case 'digits':
      return { kind: 'dtmf', digits: item.digits, durationMs: item.digitDurationMs };
    default:
      throw new ValidationError('INVALID_MEDIA', `unknown media item kind '${(item as { kind: string }).kind}'`);
  }
}

/** Turn one parsed item into a playable source at ctx.rate. */
export async function resolveItem(item: MediaItem, ctx: ResolveContext): Promise<PlaylistSource> {
  const req = await prepRequestOf(item, ctx);
  if (req === undefined) return clockSource(item);
  return { kind: 'pcm', pcm: (await load(req, ctx)).pcm, label: labelOf(item) };
}

function parseAll(items: readonly (string | MediaItem)[], ctx: ResolveContext): MediaItem[] {
  if (!Array.isArray(items) || items.length === 0)
    throw new ValidationError('INVALID_MEDIA', 'media must be a non-empty list');
  // Parse everything first so a syntax error anywhere fails fast, with no I/O started.
  const parsed = items.map((it) => (typeof it === 'string' ? parseMediaItem(it, ctx.itemOptions) : it));
  ctx.signal?.throwIfAborted();
  return parsed;
}

/**
 * Resolve a playlist (strings are parsed with parseMediaItem) into sources at ctx.rate, all items
 * concurrently, in order. Fails with the first bad item's error (ValidationError for syntax,
 * forbidden paths and fetch failures, NotFoundError for missing files), before anything plays.
 */
export async function resolvePlaylist(
  items: readonly (string | MediaItem)[],
  ctx: ResolveContext,
): Promise<PlaylistSource[]> {
  const parsed = parseAll(items, ctx);
  return Promise.all(parsed.map((it) => resolveItem(it, ctx)));
}

/**
 * A playlist that starts as soon as its first entry is ready: every entry is checked (syntax,
 * paths inside the media roots, files present) and every decode or synthesis is started at once;
 * only the first entry is awaited. Later entries are `lazy` sources over loads already running,
 * so they are prepared while earlier ones play, and a Player (with `prefetch`) that reaches one
 * not ready yet sends silence until it is. Rejects with the first checked item's error, or with
 * the first entry's load error.
 */
export async function preparePlaylist(
  items: readonly (string | MediaItem)[],
  ctx: ResolveContext,
): Promise<PlaylistSource[]> {
  const parsed = parseAll(items, ctx);
  const reqs = await Promise.all(parsed.map((it) => prepRequestOf(it, ctx)));
  ctx.signal?.throwIfAborted();
  const loads = reqs.map((req) => (req === undefined ? undefined : load(req, ctx).then((a) => a.pcm)));
  // Loads after the first are observed by the Player, which may be stopped before it reaches them.
  for (let i = 1; i < loads.length; i++) loads[i]?.catch(() => undefined);
  const first = loads[0];
  const firstPcm = first === undefined ? undefined : await first;
  return parsed.map((item, i): PlaylistSource => {
    const pending = loads[i];
    if (pending === undefined) return clockSource(item);
    if (i === 0) return { kind: 'pcm', pcm: firstPcm as Int16Array, label: labelOf(item) };
    return { kind: 'lazy', load: () => pending, label: labelOf(item) };
  });
}
