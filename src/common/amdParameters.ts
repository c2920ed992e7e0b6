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
