import { isIPv4 } from 'node:net';
import { UnsupportedError } from '../../common/errors.ts';
import type { ParsedMedia, RemoteTransport } from './types.ts';

/** Plain RTP profiles we terminate: RTP/AVP and its feedback variant (RFC 4585). No SRTP/DTLS. */
export function isPlainRtp(protocol: string): boolean {
  const p = protocol.toUpperCase();
  return p === 'RTP/AVP' || p === 'RTP/AVPF';
}

/** Why a remote stream's address is unusable, or null when it is a unicast IPv4 address. */
export function addressProblem(m: ParsedMedia): string | null {
  const ip = m.connectionIp ?? '';
  if (m.ipVersion === 6) return `c=IN IP6 ${ip}: IPv6 is not supported, only IPv4`;
  if (ip.includes('/')) return `c=IN IP4 ${ip}: multicast is not supported`;
  if (!isIPv4(ip)) return `c=IN IP4 ${ip}: not a dotted-quad IPv4 address (host names are not resolved)`;
  const first = Number(ip.split('.')[0]);
  if (first >= 224 && first <= 239) return `c=IN IP4 ${ip}: multicast is not supported`;
  return null;
}

export function unsupportedAddress(m: ParsedMedia): UnsupportedError {
  return new UnsupportedError('UNSUPPORTED_ADDRESS', `m= line ${m.index + 1} (${m.type}): ${addressProblem(m) ?? 'bad address'}`);
}

/**
 * Where to send. RTCP goes to the RTP port with rtcp-mux (RFC 5761), else to a=rtcp (RFC 3605),
 * else to RTP + 1 (RFC 3550 11). c=0.0.0.0 is an old-style hold: nowhere to send (RFC 3264 8.4).
 */
export function remoteTransport(m: ParsedMedia, rtcpMux: boolean): RemoteTransport | null {
  const ip = m.connectionIp;
  if (ip === null || ip === '0.0.0.0' || m.port === 0) return null;
  const rtcpPort = rtcpMux ? m.port : m.rtcpPort ?? Math.min(m.port + 1, 65535);
  return { ip, rtpPort: m.port, rtcpPort };
}
