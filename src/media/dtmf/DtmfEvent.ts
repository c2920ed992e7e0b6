/**
 * Shared DTMF vocabulary: digits, RFC 4733 event codes and the event every detector reports.
 */

export type DtmfDigit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

import type { DtmfSource } from '../../protocol/dtmf.ts';

export type { DtmfSource };

/** One key press, reported once, when it ends. */
export interface DtmfEvent {
  digit: DtmfDigit;
  durationMs: number;
  /**
   * When the press began, in the caller's clock: arrival time of the first packet for RFC 4733,
   * `startTimeMs` + sample position for the in-band detector. The merger compares these.
   */
  startMs: number;
  source: DtmfSource;
  /** RFC 4733 power level: the tone would be at -volume dBm0 (0..63). Absent for in-band. */
  volume?: number;
}

/** RFC 4733 section 3.2 (table 1): event codes 0-15 are the DTMF digits in this order. */
export const DTMF_DIGITS = '0123456789*#ABCD';

/** The RFC 4733 event code of a digit (case-insensitive for A-D), or -1 when it is not one. */
export function dtmfEventCode(digit: string): number {
  if (digit.length !== 1) return -1;
  return DTMF_DIGITS.indexOf(digit.toUpperCase());
}

/** The digit for an RFC 4733 event code 0-15, or undefined for any other code. */
export function dtmfDigitForCode(code: number): DtmfDigit | undefined {
  return code >= 0 && code < 16 ? (DTMF_DIGITS[code] as DtmfDigit) : undefined;
}

/** true when every character of `digits` is a DTMF digit. */
export function isDtmfString(digits: string): boolean {
  for (let i = 0; i < digits.length; i++) if (dtmfEventCode(digits[i]!) < 0) return false;
  return true;
}
