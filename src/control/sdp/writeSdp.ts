import { isIPv4 } from 'node:net';
import { parse, write, type MediaAttributes, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { ValidationError } from '../../common/errors.ts';
import { rtpmapName, TELEPHONE_EVENT } from './codecTable.ts';
import type { Direction, LocalMediaOptions, SdpResult } from './types.ts';

const DIRECTIONS: readonly Direction[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** The events we detect and generate (RFC 4733 3.2: DTMF 0-15 plus flash, 16). */
export const TELEPHONE_EVENTS = '0-16';

export const DEFAULT_PTIME = 20;

function bad(message: string): ValidationError {
  return new ValidationError('INVALID_LOCAL_MEDIA', message);
}

function isPort(p: unknown): boolean {
  return Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
}

/** Our own side is configuration, not peer input: wrong values are caller bugs, named precisely. */
export function validateLocal(local: LocalMediaOptions): void {
  if (local === null || typeof local !== 'object') throw bad('local media options are missing');
  if (!isIPv4(local.ip)) throw bad(`local ip "${local.ip}" is not an IPv4 address`);
  if (!isPort(local.rtpPort)) throw bad(`local rtpPort ${local.rtpPort} is out of range 1-65535`);
  if (!isPort(local.rtcpPort)) throw bad(`local rtcpPort ${local.rtcpPort} is out of range 1-65535`);
  // RFC 4566 5.2: numeric, and it must fit the 64 bits that NTP-derived ids use.
  if (!/^\d{1,20}$/.test(String(local.sessionId))) throw bad(`sessionId "${local.sessionId}" must be numeric`);
  if (!Number.isSafeInteger(local.sessionVersion) || local.sessionVersion < 0) {
    throw bad(`sessionVersion ${local.sessionVersion} must be a non-negative integer`);
  }
  if (local.direction !== undefined && !DIRECTIONS.includes(local.direction)) {
    throw bad(`direction "${local.direction}" is not one of ${DIRECTIONS.join(', ')}`);
  }
  if (local.ptime !== undefined && (!Number.isInteger(local.ptime) || local.ptime < 10 || local.ptime > 120)) {
    throw bad(`ptime ${local.ptime} must be an integer from 10 to 120 ms`);
  }
  const br = local.opus?.maxAverageBitrate;
  // RFC 7587 7.1: maxaveragebitrate is 6000 to 510000.
  if (br !== undefined && (!Number.isInteger(br) || br < 6000 || br > 510000)) {
    throw bad(`opus maxAverageBitrate ${br} must be 6000-510000`);
  }
}

/** Our Opus receive preferences (RFC 7587 7.1): mono, FEC, a voice bitrate. */
export function opusFmtp(local: LocalMediaOptions): string {
  const fec = local.opus?.useInbandFec === false ? 0 : 1;
  const br = local.opus?.maxAverageBitrate ?? 32000;
  return `minptime=10;useinbandfec=${fec};maxaveragebitrate=${br};stereo=0;sprop-stereo=0`;
}

/** A format as it goes into an m= line we write. */
export interface OutFormat {
  payloadType: number;
  name: string;
  clockRate: number;
  channels: number;
  fmtp: string;
}

export interface OutAudio {
  port: number;
  protocol: string;
  formats: OutFormat[];
  rtcpPort: number | null;
  rtcpMux: boolean;
  ptime: number;
  direction: Direction;
  mid: string | null;
}

export function audioMedia(a: OutAudio): MediaDescription {
  const rtp: MediaAttributes['rtp'] = [];
  const fmtp: MediaAttributes['fmtp'] = [];
  for (const f of a.formats) {
    const entry: MediaAttributes['rtp'][number] = {
      payload: f.payloadType,
      codec: rtpmapName(f.name),
      rate: f.clockRate,
    };
    if (f.channels !== 1 && f.name !== TELEPHONE_EVENT) entry.encoding = f.channels;
    rtp.push(entry);
    if (f.fmtp !== '') fmtp.push({ payload: f.payloadType, config: f.fmtp });
  }
  const m: MediaDescription = {
    type: 'audio',
    port: a.port,
    protocol: a.protocol,
    payloads: a.formats.map((f) => f.payloadType).join(' '),
    rtp,
    fmtp,
    ptime: a.ptime,
    direction: a.direction,
  };
  if (a.rtcpPort !== null) m.rtcp = { port: a.rtcpPort };
  if (a.rtcpMux) m.rtcpMux = 'rtcp-mux';
  if (a.mid !== null) m.mid = a.mid;
  return m;
}

/** RFC 3264 6: a refused stream is answered with port 0 and the offered formats. */
export function rejectedMedia(
  type: string,
  protocol: string,
  formatTokens: readonly string[],
  mid: string | null,
): MediaDescription {
  const fallback = /(^|\/)RTP\//i.test(protocol) ? '0' : '*';
  const m: MediaDescription = {
    type,
    port: 0,
    protocol,
    payloads: formatTokens.length > 0 ? formatTokens.join(' ') : fallback,
    rtp: [],
    fmtp: [],
  };
  if (mid !== null) m.mid = mid;
  return m;
}

function session(local: LocalMediaOptions, version: number, media: MediaDescription[]): SessionDescription {
  return {
    version: 0,
    origin: {
      username: '-',
      sessionId: String(local.sessionId),
      sessionVersion: version,
      netType: 'IN',
      ipVer: 4,
      address: local.ip,
    },
    name: '-',
    connection: { version: 4, ip: local.ip },
    timing: { start: 0, stop: 0 },
    media,
  };
}

/** The body with the o= version zeroed, to compare two SDPs of a session. */
function withoutVersion(sdpText: string): string | null {
  try {
    const s = parse(sdpText);
    if (!s.origin) return null;
    s.origin.sessionVersion = 0;
    return write(s);
  } catch {
    return null;
  }
}

/**
 * Write our SDP. RFC 3264 8: in a modified offer or answer the o= version is the previous one
 * plus one when anything changed, and the same when nothing did.
 */
export function writeSdp(local: LocalMediaOptions, media: MediaDescription[]): SdpResult {
  let version = local.sessionVersion;
  if (local.previousSdp !== undefined) {
    const before = withoutVersion(local.previousSdp);
    const after = withoutVersion(write(session(local, version, structuredClone(media))));
    if (before === null || before !== after) version += 1;
  }
  return { sdp: write(session(local, version, media)), sessionVersion: version };
}
