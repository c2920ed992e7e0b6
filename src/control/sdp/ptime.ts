/**
 * Packet time policy (RFC 4566 6 a=ptime: the receiver's wish, in milliseconds). A well-formed
 * wish is honoured within what we can send: clamped to 10-120 ms, then moved to the nearest packet
 * length the codec can carry (ties to the shorter). A value that is not a positive decimal number
 * (0, -20, 1e9, text) is refused by the parser as INVALID_SDP.
 */
export const MIN_PTIME = 10;
export const MAX_PTIME = 120;

/** Sample-based codecs (G.711, G.722, L16) in 10 ms steps: our frames are 10 ms multiples. */
const SAMPLE_PTIMES = Array.from({ length: (MAX_PTIME - MIN_PTIME) / 10 + 1 }, (_, i) => MIN_PTIME + i * 10);
/** Opus: one frame per packet, and frames are 2.5, 5, 10, 20, 40 or 60 ms (RFC 6716 2.1.4). */
const OPUS_PTIMES = [10, 20, 40, 60];

/** RFC 4566 6: a=ptime is a decimal number of milliseconds. */
export function isPtimeText(raw: string): boolean {
  return /^\d{1,9}(\.\d{1,6})?$/.test(raw) && Number(raw) > 0;
}

/** The packet time to use for `codecName` given the remote's wish (null: none), else `fallback`. */
export function packetTime(requested: number | null, codecName: string, fallback: number): number {
  const wish = Math.min(MAX_PTIME, Math.max(MIN_PTIME, requested ?? fallback));
  const steps = codecName === 'opus' ? OPUS_PTIMES : SAMPLE_PTIMES;
  let best = steps[0]!;
  for (const p of steps) if (Math.abs(p - wish) < Math.abs(best - wish)) best = p;
  return best;
}
