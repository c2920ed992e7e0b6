import path from 'node:path';
import { MessagePort } from 'node:worker_threads';
import type { WorkerSettings } from '../../../protocol/worker.ts';
import type { MediaItemOptions } from '../../playback/MediaItem.ts';
import { Player, type PlayerOptions } from '../../playback/Player.ts';
import { preparePlaylist, type ResolveContext } from '../../playback/resolvePlaylist.ts';
import type { AudioPrep } from '../../prep/AudioPrep.ts';
import { AudioPrepPool } from '../../prep/AudioPrepPool.ts';
import { PortAudioPrep } from '../../prep/PortAudioPrep.ts';
import { PlayerSource } from './PlayerSource.ts';

/**
 * What every player of a worker shares: the line to the TTS and decode pool (which owns the cache
 * of prepared audio) and the directories media may come from.
 */
export interface PlaybackResources {
  readonly prep: AudioPrep;
  readonly promptsDir: string;
  /** Roots file items may come from: the prompts directory, then the recordings directory. */
  readonly mediaRoots: readonly string[];
  /** Release the prep line (or the pool this worker runs on its own). Idempotent. */
  close(): void;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string') : [];
}

/**
 * Builds the worker's shared resources from its settings: `prepPort` (a MessagePort to the
 * control plane's AudioPrepPool, given by MediaServer), promptsDir, recordingsDir. A worker
 * started without a port (tests, tools) runs a pool of its own (`ttsThreads`, `ttsCacheBytes`,
 * `mediaFetchAllow`, `mediaFetchDeny`): still off its thread, but neither shared nor warmed
 * before the first request. HTTP items are fetched by the pool, under its destination policy.
 */
export function createPlaybackResources(settings: Readonly<WorkerSettings>): PlaybackResources {
  const promptsDir = path.resolve(typeof settings.promptsDir === 'string' ? settings.promptsDir : 'prompts');
  const recordingsDir = path.resolve(
    typeof settings.recordingsDir === 'string' ? settings.recordingsDir : 'recordings',
  );
  let prep: AudioPrep;
  if (settings.prepPort instanceof MessagePort) {
    prep = new PortAudioPrep(settings.prepPort);
  } else {
    const opts: ConstructorParameters<typeof AudioPrepPool>[0] = {};
    if (typeof settings.ttsThreads === 'number') opts.threads = settings.ttsThreads;
    if (typeof settings.ttsCacheBytes === 'number') opts.cacheBytes = settings.ttsCacheBytes;
    opts.fetchAllow = stringList(settings.mediaFetchAllow);
    opts.fetchDeny = stringList(settings.mediaFetchDeny);
    prep = new AudioPrepPool(opts);
  }
  return { prep, promptsDir, mediaRoots: [promptsDir, recordingsDir], close: () => prep.close() };
}

const shared = new WeakMap<object, PlaybackResources>();

/**
 * The resources of this worker thread, one per settings object (every engine of a worker gets
 * the same one).
 */
export function sharedPlaybackResources(settings: Readonly<WorkerSettings>): PlaybackResources {
  let res = shared.get(settings);
  if (res === undefined) {
    res = createPlaybackResources(settings);
    shared.set(settings, res);
  }
  return res;
}

export interface PreparePlayerOptions extends Omit<PlayerOptions, 'sampleRate' | 'prefetch'> {
  /** TTS voice/lang/rate/engine and digits mode of the string items. */
  itemOptions?: MediaItemOptions;
  signal?: AbortSignal;
}

/**
 * Checks `media` (strings of the playback API), starts preparing every entry at `sampleRate` off
 * this thread, and wraps the playlist in a PlayerSource as soon as its first entry is ready (later
 * entries are prepared while earlier ones play). Rejects with the first bad item's error
 * (ValidationError naming it, NotFoundError for a missing file) or the first entry's load error.
 */
export async function preparePlayer(
  res: PlaybackResources,
  media: readonly string[],
  sampleRate: number,
  opts: PreparePlayerOptions = {},
): Promise<PlayerSource> {
  const ctx: ResolveContext = {
    rate: sampleRate,
    promptsDir: res.promptsDir,
    mediaRoots: res.mediaRoots,
    prep: res.prep,
  };
  if (opts.signal !== undefined) ctx.signal = opts.signal;
  if (opts.itemOptions !== undefined) ctx.itemOptions = opts.itemOptions;
  const sources = await preparePlaylist(media, ctx);
  opts.signal?.throwIfAborted();
  const playerOpts: PlayerOptions = { sampleRate, prefetch: true };
  if (opts.loop !== undefined) playerOpts.loop = opts.loop;
  if (opts.bargeIn !== undefined) playerOpts.bargeIn = opts.bargeIn;
  return new PlayerSource(new Player(sources, playerOpts));
}
