import { createHash } from 'node:crypto';
import type { SerializedError } from '../../common/errors.ts';
import type { DecodedAudio } from '../playback/decodeAudio.ts';
import type { TtsItemOptions } from '../playback/MediaItem.ts';

/**
 * Audio a playback needs before it can play, described as plain data (it crosses postMessage):
 * a local file to decode, an HTTP body to fetch and decode, or text to synthesise. Every result is
 * mono PCM16 at `sampleRate` (the endpoint's rate).
 */
export type PrepRequest =
  | { readonly kind: 'file'; readonly path: string; readonly sampleRate: number; readonly label: string }
  | {
      readonly kind: 'url';
      readonly url: string;
      readonly sampleRate: number;
      readonly timeoutMs?: number;
      readonly maxBytes?: number;
      readonly ttlMs?: number;
    }
  | ({ readonly kind: 'tts'; readonly text: string; readonly sampleRate: number } & Readonly<TtsItemOptions>);

/**
 * Where playback audio is prepared, away from the media clock: `AudioPrepPool` (worker threads
 * with a shared cache) or `PortAudioPrep` (a media worker's line to the control plane's pool).
 * The PCM returned is shared: callers read it and never write to it.
 */
export interface AudioPrep {
  /** Resolves with the audio; `signal` abandons this caller's wait (a shared load goes on). */
  prepare(req: PrepRequest, signal?: AbortSignal): Promise<DecodedAudio>;
  /** Stop what this object owns (threads, ports). Idempotent. */
  close(): void;
}

/** Messages between a PortAudioPrep (media worker) and the AudioPrepPool serving its port. */
export type PrepClientMessage = { t: 'prep'; id: number; req: PrepRequest };
export type PrepServerMessage =
  | { t: 'done'; id: number; pcm: Int16Array; sampleRate: number }
  | { t: 'fail'; id: number; err: SerializedError };

/** Cache key of a TTS request; the text is hashed to keep keys short. */
export function ttsKey(engine: string, req: Extract<PrepRequest, { kind: 'tts' }>): string {
  const h = createHash('sha256').update(req.text).digest('base64url');
  return `tts:${engine}|${req.voice ?? ''}|${req.lang ?? ''}|${req.rate ?? 1}|${h}@${req.sampleRate}`;
}
