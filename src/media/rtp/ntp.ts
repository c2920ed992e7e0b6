/**
 * NTP timestamps as RTCP carries them (RFC 3550 section 4): 64 bits, seconds since 1900-01-01 in
 * the upper 32 bits and the binary fraction in the lower 32; SR's LSR and RR's DLSR use the
 * "middle 32 bits" (16.16 fixed point, units of 1/65536 s).
 */

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_S = 2208988800;

const TWO_32 = 4294967296;

/**
 * Unix wall-clock milliseconds (`Date.now()`, or `performance.timeOrigin + performance.now()`)
 * to NTP; `out[0]` = seconds (MSW), `out[1]` = fraction (LSW). Reuse `out` to avoid allocation.
 */
export function msToNtp(unixMs: number, out: Uint32Array = new Uint32Array(2)): Uint32Array {
  const s = Math.floor(unixMs / 1000);
  const fracMs = unixMs - s * 1000;
  let lsw = Math.round((fracMs / 1000) * TWO_32);
  let msw = s + NTP_UNIX_OFFSET_S;
  if (lsw >= TWO_32) {
    lsw -= TWO_32;
    msw += 1;
  }
  out[0] = msw >>> 0;
  out[1] = lsw >>> 0;
  return out;
}

/** NTP (MSW, LSW) back to Unix milliseconds (era 0, i.e. until 2036). */
export function ntpToMs(msw: number, lsw: number): number {
  return (msw - NTP_UNIX_OFFSET_S) * 1000 + (lsw / TWO_32) * 1000;
}

/** The middle 32 bits of a 64-bit NTP timestamp, as used for LSR (RFC 3550 6.4.1). */
export function ntpMiddle32(msw: number, lsw: number): number {
  return (((msw & 0xffff) << 16) | (lsw >>> 16)) >>> 0;
}

/** Middle 32 bits of the NTP time of Unix milliseconds `unixMs` (no allocation). */
export function msToNtpMiddle32(unixMs: number): number {
  // The middle 32 bits are (NTP seconds mod 65536) * 65536 + fraction >> 16: count 1/65536 s.
  const units = Math.floor((unixMs / 1000 + NTP_UNIX_OFFSET_S) * 65536);
  return (units % TWO_32) >>> 0;
}

/** A 16.16 compact NTP interval (DLSR, RTT) in milliseconds. */
export function compactNtpToMs(v: number): number {
  return ((v >>> 0) * 1000) / 65536;
}

/** Milliseconds to a 16.16 compact NTP interval, clamped to what 32 bits hold. */
export function msToCompactNtp(ms: number): number {
  if (!(ms > 0)) return 0;
  const v = Math.round((ms * 65536) / 1000);
  return v >= TWO_32 ? 0xffffffff : v;
}

/**
 * Round-trip time from a report block about our stream (RFC 3550 6.4.1): RTT = A - LSR - DLSR,
 * where A is the arrival time of that report as middle-32 NTP of our own clock. Arithmetic is
 * modulo 2^32 as the units wrap every 65536 s. Returns milliseconds, or NaN when the block does
 * not allow it (LSR = 0: the peer has no SR from us yet) or the result is negative (peer's DLSR
 * larger than the time elapsed: a broken or hostile peer).
 */
export function rttFromReportBlock(lsr: number, dlsr: number, arrivalNtpMiddle32: number): number {
  if (lsr === 0) return NaN;
  const rtt = (arrivalNtpMiddle32 - lsr - dlsr) | 0;
  if (rtt < 0) return NaN;
  return compactNtpToMs(rtt);
}
