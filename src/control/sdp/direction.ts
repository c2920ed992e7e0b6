import type { Direction, ParsedMedia } from './types.ts';

export function sends(d: Direction): boolean {
  return d === 'sendrecv' || d === 'sendonly';
}

export function receives(d: Direction): boolean {
  return d === 'sendrecv' || d === 'recvonly';
}

export function directionOf(send: boolean, recv: boolean): Direction {
  if (send) return recv ? 'sendrecv' : 'sendonly';
  return recv ? 'recvonly' : 'inactive';
}

/**
 * The remote's direction as we must honour it. RFC 3264 8.4: an old-style hold (c=0.0.0.0,
 * RFC 2543) means "do not send to me" whatever the attribute says.
 */
export function effectiveRemoteDirection(m: ParsedMedia): Direction {
  if (m.connectionIp === '0.0.0.0') return directionOf(sends(m.direction), false);
  return m.direction;
}

/**
 * Our direction given what we want and what the other side declared (RFC 3264 6.1): we send only
 * if we want to and they receive; we receive only if we want to and they send. An offer of
 * sendonly is answered recvonly, recvonly with sendonly, inactive with inactive.
 */
export function answerDirection(local: Direction, remote: Direction): Direction {
  return directionOf(sends(local) && receives(remote), receives(local) && sends(remote));
}

/** The remote put the stream on hold: it will not receive (sendonly/inactive or c=0.0.0.0). */
export function isRemoteHold(m: ParsedMedia): boolean {
  return !receives(effectiveRemoteDirection(m));
}
