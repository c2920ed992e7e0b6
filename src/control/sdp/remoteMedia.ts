import { isIPv4, isIPv6 } from 'node:net';
import { UnsupportedError, ValidationError, type MediaServerError } from '../../common/errors.ts';
import type { ParsedMedia, RemoteTransport } from './types.ts';

/** Plain RTP profiles we terminate: RTP/AVP and its feedback variant (RFC 4585). No SRTP/DTLS. */
export function isPlainRtp(protocol: string): boolean {
  const p = protocol.toUpperCase();
  return p === 'RTP/AVP' || p === 'RTP/AVPF';
}

/** RFC 3264 8.4: c=0.0.0.0 is the old-style (RFC 2543) hold: there is nowhere to send. */
export const HOLD_ADDRESS = '0.0.0.0';

/** Below this, ports belong to system services (RFC 6335 6); RTP never uses them. */
export const MIN_MEDIA_PORT = 1024;

/**
 * Why an IPv4 address can never be a media destination, or null. Sending there would reach many
 * hosts (broadcast, multicast) or none (reserved ranges).
 */
function ipv4Problem(ip: string): string | null {
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
  if (a === 255 && b === 255 && c === 255 && d === 255)
    return 'the limited broadcast address cannot be a media destination';
  if (a >= 224 && a <= 239) return 'multicast (224.0.0.0/4) cannot be a media destination';
  if (a >= 240) return 'the reserved range 240.0.0.0/4 cannot be a media destination';
  if (a === 0)
    return '0.0.0.0/8 ("this network", RFC 1122 3.2.1.3) cannot be a media destination (only c=0.0.0.0, a hold)';
  return null;
}

/**
 * Why a remote stream's destination is unusable, or null when it is a unicast IPv4 address and
 * ports we may send to. Destinations that can never be right (broadcast, multicast, reserved
 * addresses, ports below 1024) are INVALID_SDP; what is valid but beyond us (IPv6, host names)
 * is UNSUPPORTED_ADDRESS. c=0.0.0.0 is a hold (no destination) whatever its port.
 */
export function addressError(m: ParsedMedia): MediaServerError | null {
  const ip = m.connectionIp ?? '';
  const where = `m= line ${m.index + 1} (${m.type})`;
  const invalid = (why: string) => new ValidationError('INVALID_SDP', `${where}: ${why}`);
  const unsupported = (why: string) => new UnsupportedError('UNSUPPORTED_ADDRESS', `${where}: ${why}`);
  if (m.ipVersion === 6) {
    // RFC 4291 2.7: ff00::/8 is multicast.
    const bare = ip.split('/')[0] ?? '';
    if (isIPv6(bare) && /^ff/i.test(bare))
      return invalid(`c=IN IP6 ${ip}: multicast (ff00::/8) cannot be a media destination`);
    return unsupported(`c=IN IP6 ${ip}: IPv6 is not supported, only IPv4`);
  }
  // RFC 4566 5.7: a TTL or address count after the address is only written for multicast.
  if (ip.includes('/')) return invalid(`c=IN IP4 ${ip}: multicast cannot be a media destination`);
  if (!isIPv4(ip)) return unsupported(`c=IN IP4 ${ip}: not a dotted-quad IPv4 address (host names are not resolved)`);
  if (ip === HOLD_ADDRESS) return null;
  const problem = ipv4Problem(ip);
  if (problem !== null) return invalid(`c=IN IP4 ${ip}: ${problem}`);
  if (m.port !== 0 && m.port < MIN_MEDIA_PORT)
    return invalid(`RTP port ${m.port} is below ${MIN_MEDIA_PORT} (a system service port, never RTP)`);
  // With rtcp-mux offered, a=rtcp is only a fallback, and WebRTC writes the placeholder 9 there.
  if (m.rtcpPort !== null && m.rtcpPort < MIN_MEDIA_PORT && !m.rtcpMux)
    return invalid(`a=rtcp port ${m.rtcpPort} is below ${MIN_MEDIA_PORT} (a system service port, never RTCP)`);
  return null;
}

/**
 * Where to send. RTCP goes to the RTP port with rtcp-mux (RFC 5761), else to a=rtcp (RFC 3605),
 * else to RTP + 1 (RFC 3550 11). c=0.0.0.0 is an old-style hold: nowhere to send (RFC 3264 8.4).
 */
export function remoteTransport(m: ParsedMedia, rtcpMux: boolean): RemoteTransport | null {
  const ip = m.connectionIp;
  if (ip === null || ip === HOLD_ADDRESS || m.port === 0) return null;
  // A privileged a=rtcp port (only let through beside rtcp-mux, see addressError) is no destination.
  const declared = m.rtcpPort !== null && m.rtcpPort >= MIN_MEDIA_PORT ? m.rtcpPort : null;
  const rtcpPort = rtcpMux ? m.port : (declared ?? Math.min(m.port + 1, 65535));
  return { ip, rtpPort: m.port, rtcpPort };
}
