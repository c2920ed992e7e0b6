/**
 * Wraparound-safe arithmetic for RTP sequence numbers (16 bit) and timestamps (32 bit).
 * All sequence/timestamp maths in the project goes through these helpers.
 */

/** a - b for 16-bit sequence numbers, in [-32768, 32767]. */
export function seqDiff(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

/** true when a comes after b in 16-bit sequence space. */
export function seqNewer(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) & 0xffff;
}

/** a - b for 32-bit timestamps, as a signed 32-bit number. */
export function tsDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function tsNewer(a: number, b: number): boolean {
  return tsDiff(a, b) > 0;
}

export function tsAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
