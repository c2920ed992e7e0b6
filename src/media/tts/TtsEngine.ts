import type { DecodedAudio } from '../playback/decodeAudio.ts';

export interface TtsOptions {
  /** Engine-specific voice name (espeak-ng: `en-us`, `en-us+f3`). */
  voice?: string;
  /** Language tag; engines that pick voices by language use it when no voice is given. */
  lang?: string;
  /** Speed factor, 1 = the engine's normal rate. */
  rate?: number;
  signal?: AbortSignal;
}

/** Speech as mono PCM16 at the engine's own rate (the caller converts to the endpoint rate). */
export type TtsResult = DecodedAudio;

/**
 * A text-to-speech engine. Implementations never pass text through a shell: in-process (WASM),
 * a process spawned with an argument array and the text on stdin, or an HTTP POST.
 */
export interface TtsEngine {
  readonly name: string;
  synthesize(text: string, opts?: TtsOptions): Promise<TtsResult>;
  /** Release processes or WASM state. Idempotent. */
  close?(): void;
}

/** espeak-ng speaks at 175 words per minute by default; `rate` scales that (espeak-ng -s, 80..450). */
export function espeakWpm(rate: number | undefined): number {
  return Math.min(450, Math.max(80, Math.round(175 * (rate ?? 1))));
}

/** espeak-ng voice from options: an explicit voice, else the language lower-cased, else en-us. */
export function espeakVoice(opts: TtsOptions): string {
  return opts.voice ?? opts.lang?.toLowerCase() ?? 'en-us';
}
