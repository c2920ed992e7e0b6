import { ValidationError } from '../../common/errors.ts';
import { parseToneSpec, type ToneSpec } from './ToneGenerator.ts';

/** Options a `tts:` (or spoken `digits:`) item carries; they select engine, voice and speed. */
export interface TtsItemOptions {
  voice?: string;
  lang?: string;
  /** Speed factor, 1 = normal, 0.25..4. */
  rate?: number;
  engine?: string;
}

/** How `digits:` items are rendered: spoken one by one through TTS, or sent as DTMF (RFC 4733). */
export type DigitsMode = 'speak' | 'dtmf';

export interface MediaItemOptions extends TtsItemOptions {
  /** Mode of `digits:` items; default 'speak'. */
  digitsMode?: DigitsMode;
  /** DTMF digit duration for `digits:` in dtmf mode (ms, 40..2000; default 100). */
  digitDurationMs?: number;
}

/** One playlist entry after parsing: syntax checked, nothing read yet. */
export type MediaItem =
  | { readonly kind: 'prompt'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | ({ readonly kind: 'tts'; readonly text: string } & Readonly<TtsItemOptions>)
  | { readonly kind: 'tone'; readonly tone: ToneSpec }
  | { readonly kind: 'silence'; readonly durationMs: number }
  | ({
      readonly kind: 'digits';
      readonly digits: string;
      readonly mode: DigitsMode;
      readonly digitDurationMs: number;
    } & Readonly<TtsItemOptions>);

/**
 * Longest TTS text, characters: the one limit of `tts:` items, TtsService and the REST schema
 * (CreatePlaybackRequest items allow `tts:` plus this many; a test keeps them equal).
 */
export const MAX_TTS_TEXT = 4000;
const MAX_SILENCE_MS = 3_600_000;
const PROMPT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
const VOICE = /^[A-Za-z0-9][A-Za-z0-9_+-]{0,63}$/;
const LANG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
const ENGINE = /^[A-Za-z0-9_-]{1,32}$/;
const DIGITS = /^[0-9*#A-Da-d]{1,64}$/;

function invalid(item: string, why: string): ValidationError {
  const shown = item.length > 80 ? `${item.slice(0, 77)}...` : item;
  return new ValidationError('INVALID_MEDIA', `media item '${shown}': ${why}`);
}

/** The error for a TTS text over MAX_TTS_TEXT, the same from every layer. */
export function ttsTextTooLong(length: number, limit: number = MAX_TTS_TEXT): ValidationError {
  return new ValidationError(
    'TTS_TEXT_TOO_LONG',
    `TTS text of ${length} characters exceeds the ${limit} character limit`,
  );
}

/** Validate TTS options shared by `tts:` and `digits:` items; they may reach a spawned process. */
export function checkTtsOptions(item: string, o: TtsItemOptions): TtsItemOptions {
  const out: TtsItemOptions = {};
  if (o.voice !== undefined) {
    if (typeof o.voice !== 'string' || !VOICE.test(o.voice))
      throw invalid(item, 'voice must be a letter or digit then up to 63 of [A-Za-z0-9_+-]');
    out.voice = o.voice;
  }
  if (o.lang !== undefined) {
    if (typeof o.lang !== 'string' || !LANG.test(o.lang))
      throw invalid(item, 'lang must be a language tag like en or en-US');
    out.lang = o.lang;
  }
  if (o.rate !== undefined) {
    if (typeof o.rate !== 'number' || !(o.rate >= 0.25 && o.rate <= 4))
      throw invalid(item, 'rate must be a number in 0.25..4');
    out.rate = o.rate;
  }
  if (o.engine !== undefined) {
    if (typeof o.engine !== 'string' || !ENGINE.test(o.engine))
      throw invalid(item, 'engine must match [A-Za-z0-9_-]{1,32}');
    out.engine = o.engine;
  }
  return out;
}

/** Lexical checks on a path item; containment in the media roots is checked with realpath later. */
function checkPath(item: string, p: string): string {
  if (p.length === 0) throw invalid(item, 'empty path');
  if (p.includes('\0')) throw invalid(item, 'path contains NUL');
  if (p.split(/[\\/]/).includes('..')) throw invalid(item, "path must not contain '..'");
  return p;
}

/**
 * Parse one playlist entry:
 * `prompt:NAME` · a path inside a media root (or `file:PATH`) · `http(s)://URL` · `tts:TEXT` ·
 * `tone:SPEC` (see parseToneSpec) · `silence:MS` · `digits:123` (spoken or DTMF per options.digitsMode).
 * Throws ValidationError naming the item and what is wrong.
 */
export function parseMediaItem(input: string, options: MediaItemOptions = {}): MediaItem {
  if (typeof input !== 'string') throw new ValidationError('INVALID_MEDIA', 'media item must be a string');
  const item = input.trim();
  if (item.length === 0) throw invalid(input, 'empty');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(item);
  if (scheme === null) return { kind: 'file', path: checkPath(item, item) };
  const name = (scheme[1] as string).toLowerCase();
  const rest = item.slice(scheme[0].length);
  switch (name) {
    case 'prompt': {
      if (!PROMPT_NAME.test(rest) || rest.split('/').some((s) => s === '..' || s === '.')) {
        throw invalid(item, 'prompt name must be letters, digits, _ - . and / (no .. segments)');
      }
      return { kind: 'prompt', name: rest.replace(/\.(wav|mp3)$/i, '') };
    }
    case 'file':
      return { kind: 'file', path: checkPath(item, rest.startsWith('//') ? rest.slice(2) : rest) };
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(item);
      } catch {
        throw invalid(item, 'not a valid URL');
      }
      if (url.hostname === '') throw invalid(item, 'URL has no host');
      if (url.username !== '' || url.password !== '') throw invalid(item, 'credentials in URLs are not accepted');
      return { kind: 'url', url: url.href };
    }
    case 'tts': {
      // The text is kept verbatim (inner whitespace included); only the item as a whole is trimmed.
      const text = input.trimStart().slice(scheme[0].length).trim();
      if (text.length === 0) throw invalid(item, 'empty text');
      if (text.length > MAX_TTS_TEXT) throw ttsTextTooLong(text.length);
      if (text.includes('\0')) throw invalid(item, 'text contains NUL');
      return { kind: 'tts', text, ...checkTtsOptions(item, options) };
    }
    case 'tone':
      try {
        return { kind: 'tone', tone: parseToneSpec(rest.toLowerCase()) };
      } catch (err) {
        if (err instanceof ValidationError) throw invalid(item, err.message);
        throw err;
      }
    case 'silence': {
      if (!/^\d+$/.test(rest)) throw invalid(item, 'expected silence:MILLISECONDS');
      const durationMs = Number(rest);
      if (durationMs <= 0 || durationMs > MAX_SILENCE_MS)
        throw invalid(item, `silence must be 1..${MAX_SILENCE_MS} ms`);
      return { kind: 'silence', durationMs };
    }
    case 'digits': {
      if (!DIGITS.test(rest)) throw invalid(item, 'digits must be 1..64 of 0-9 * # A-D');
      const mode = options.digitsMode ?? 'speak';
      if (mode !== 'speak' && mode !== 'dtmf') throw invalid(item, "digitsMode must be 'speak' or 'dtmf'");
      const digitDurationMs = options.digitDurationMs ?? 100;
      if (!(digitDurationMs >= 40 && digitDurationMs <= 2000)) throw invalid(item, 'digitDurationMs must be 40..2000');
      return { kind: 'digits', digits: rest.toUpperCase(), mode, digitDurationMs, ...checkTtsOptions(item, options) };
    }
    default:
      throw invalid(
        item,
        `unknown scheme '${name}:' (expected prompt:, file:, http(s)://, tts:, tone:, silence:, digits: or a path)`,
      );
  }
}
