/**
 * The parameters of answering-machine detection (Asterisk's AMD(), amd.conf), shared by the
 * media worker's detector and the control plane's validation.
 */

export interface AmdParameters {
  /** Longest silence before the greeting; beyond: MACHINE (INITIALSILENCE). */
  initialSilenceMs: number;
  /** Longest greeting (voice in total); beyond: MACHINE (LONGGREETING). */
  greetingMs: number;
  /** Silence after the greeting that makes it a HUMAN. */
  afterGreetingSilenceMs: number;
  /** Longest analysis; beyond: NOTSURE (TOOLONG). */
  totalAnalysisTimeMs: number;
  /** Shortest run of voice counted as a word. */
  minWordLengthMs: number;
  /** Silence that separates two words. */
  betweenWordsSilenceMs: number;
  /** Most words a human greeting has; more: MACHINE (MAXWORDS). */
  maximumNumberOfWords: number;
  /** Average magnitude (PCM16) below which a frame is silence. */
  silenceThreshold: number;
  /** Longest single word; beyond: MACHINE (MAXWORDLENGTH). */
  maximumWordLengthMs: number;
}

/** Asterisk 13+ defaults (amd.conf.sample). */
export const AMD_DEFAULTS: Readonly<AmdParameters> = Object.freeze({
  initialSilenceMs: 2500,
  greetingMs: 1500,
  afterGreetingSilenceMs: 800,
  totalAnalysisTimeMs: 5000,
  minWordLengthMs: 100,
  betweenWordsSilenceMs: 50,
  maximumNumberOfWords: 2,
  silenceThreshold: 256,
  maximumWordLengthMs: 5000,
});

/** Bounds each parameter must keep (validation at the API and in the worker). */
export const AMD_LIMITS: Readonly<Record<keyof AmdParameters, readonly [number, number]>> = Object.freeze({
  initialSilenceMs: [20, 60000],
  greetingMs: [20, 60000],
  afterGreetingSilenceMs: [20, 60000],
  totalAnalysisTimeMs: [100, 120000],
  minWordLengthMs: [20, 60000],
  betweenWordsSilenceMs: [20, 60000],
  maximumNumberOfWords: [1, 100],
  silenceThreshold: [1, 32767],
  maximumWordLengthMs: [20, 120000],
});

/**
 * Checks parameters given by a caller (snake_case or not, already mapped): each a finite number
 * within AMD_LIMITS; returns the message of the first one wrong, null when all are right.
 */
export function amdParameterError(params: Partial<Record<keyof AmdParameters, unknown>>): string | null {
  for (const key of Object.keys(AMD_LIMITS) as (keyof AmdParameters)[]) {
    const v = params[key];
    if (v === undefined) continue;
    const [min, max] = AMD_LIMITS[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return `${key} must be an integer ${min}-${max}`;
    }
  }
  return null;
}

/** The wire names (REST, gRPC, flows): amd.conf's own. */
export const AMD_CONF_NAMES: Readonly<Record<keyof AmdParameters, string>> = Object.freeze({
  initialSilenceMs: 'initial_silence',
  greetingMs: 'greeting',
  afterGreetingSilenceMs: 'after_greeting_silence',
  totalAnalysisTimeMs: 'total_analysis_time',
  minWordLengthMs: 'min_word_length',
  betweenWordsSilenceMs: 'between_words_silence',
  maximumNumberOfWords: 'maximum_number_of_words',
  silenceThreshold: 'silence_threshold',
  maximumWordLengthMs: 'maximum_word_length',
});

/** The parameters given under their amd.conf names (absent ones left out; no check). */
export function amdParametersFromConf(
  conf: Readonly<Record<string, unknown>>,
): Partial<Record<keyof AmdParameters, unknown>> {
  const out: Partial<Record<keyof AmdParameters, unknown>> = {};
  for (const key of Object.keys(AMD_CONF_NAMES) as (keyof AmdParameters)[]) {
    const v = conf[AMD_CONF_NAMES[key]];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Every parameter (defaults filled in) under its amd.conf name. */
export function amdParametersToConf(params: Partial<AmdParameters>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(AMD_CONF_NAMES) as (keyof AmdParameters)[])
    out[AMD_CONF_NAMES[key]] = params[key] ?? AMD_DEFAULTS[key];
  return out;
}
