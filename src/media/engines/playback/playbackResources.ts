import path from 'node:path';
import type { WorkerSettings } from '../../../protocol/worker.ts';
import type { MediaItemOptions } from '../../playback/MediaItem.ts';
import { Player, type PlayerOptions } from '../../playback/Player.ts';
import { PromptCache } from '../../playback/PromptCache.ts';
import { resolvePlaylist, type ResolveContext } from '../../playback/resolvePlaylist.ts';
import { EspeakWasmEngine } from '../../tts/EspeakWasmEngine.ts';
import { TtsService } from '../../tts/TtsService.ts';
import { PlayerSource } from './PlayerSource.ts';

/** What every player of a worker shares: one prompt cache (decoded once per worker) and one TTS service. */
export interface PlaybackResources {
  readonly cache: PromptCache;
  readonly tts: TtsService;
  readonly promptsDir: string;
  /** Roots file items may come from: the prompts directory, then the recordings directory. */
  readonly mediaRoots: readonly string[];
}

/** Default byte bound of a worker's prompt cache (PCM16). */
export const DEFAULT_PROMPT_CACHE_BYTES = 64 * 1024 * 1024;

/** Builds the worker's shared resources from its settings (promptsDir, recordingsDir, promptCacheBytes). */
export function createPlaybackResources(settings: Readonly<WorkerSettings>): PlaybackResources {
  const promptsDir = path.resolve(typeof settings.promptsDir === 'string' ? settings.promptsDir : 'prompts');
  const recordingsDir = path.resolve(typeof settings.recordingsDir === 'string' ? settings.recordingsDir : 'recordings');
  const maxBytes = typeof settings.promptCacheBytes === 'number' ? settings.promptCacheBytes : DEFAULT_PROMPT_CACHE_BYTES;
  const cache = new PromptCache({ maxBytes });
  // TTS shares the prompt cache, so one byte bound covers prompts and speech.
  const tts = new TtsService({ engines: [new EspeakWasmEngine()], cache });
  return { cache, tts, promptsDir, mediaRoots: [promptsDir, recordingsDir] };
}

const shared = new WeakMap<object, PlaybackResources>();

/**
 * The resources of this worker thread, one per settings object (every engine of a worker gets
 * the same one), so a prompt is decoded once per worker whichever engine plays it.
 */
export function sharedPlaybackResources(settings: Readonly<WorkerSettings>): PlaybackResources {
  let res = shared.get(settings);
  if (res === undefined) {
    res = createPlaybackResources(settings);
    shared.set(settings, res);
  }
  return res;
}

export interface PreparePlayerOptions extends Omit<PlayerOptions, 'sampleRate'> {
  /** TTS voice/lang/rate/engine and digits mode of the string items. */
  itemOptions?: MediaItemOptions;
  signal?: AbortSignal;
}

/**
 * Resolves `media` (strings of the playback API) at `sampleRate` and wraps the playlist in a
 * PlayerSource, ready to be an endpoint's source or a conference mixer input. Rejects with the
 * first bad item's error (ValidationError naming it, NotFoundError for a missing file) before
 * anything plays.
 */
export async function preparePlayer(res: PlaybackResources, media: readonly string[], sampleRate: number, opts: PreparePlayerOptions = {}): Promise<PlayerSource> {
  const ctx: ResolveContext = {
    rate: sampleRate,
    promptsDir: res.promptsDir,
    mediaRoots: res.mediaRoots,
    cache: res.cache,
    tts: res.tts,
  };
  if (opts.signal !== undefined) ctx.signal = opts.signal;
  if (opts.itemOptions !== undefined) ctx.itemOptions = opts.itemOptions;
  const sources = await resolvePlaylist(media, ctx);
  opts.signal?.throwIfAborted();
  const playerOpts: PlayerOptions = { sampleRate };
  if (opts.loop !== undefined) playerOpts.loop = opts.loop;
  if (opts.bargeIn !== undefined) playerOpts.bargeIn = opts.bargeIn;
  return new PlayerSource(new Player(sources, playerOpts));
}
