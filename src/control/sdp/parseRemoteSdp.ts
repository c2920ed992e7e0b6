import { parse, parseParams, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { ValidationError } from '../../common/errors.ts';
import { staticPayloadType } from './codecTable.ts';
import { isPtimeText } from './ptime.ts';
import type { Direction, ParsedFormat, ParsedMedia, ParsedSdp } from './types.ts';

/** Far above any real offer; keeps a hostile body from costing more than a parse. */
const MAX_SDP_LENGTH = 65536;

function invalid(message: string): ValidationError {
  return new ValidationError('INVALID_SDP', message);
}

/**
 * sdp-transform turns every all-digit token into a number ("c=IN IP4 1" gives ip 1), and leaves
 * non-canonical ones ("070") as strings; everything is read back through String().
 */
function text(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/** Decimal integer in [min, max], or null. */
function integer(v: unknown, min: number, max: number): number | null {
  const s = text(v);
  if (!/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

function isRtpProfile(protocol: string): boolean {
  return /(^|\/)RTP\//i.test(protocol);
}

function direction(v: unknown): Direction | null {
  const s = text(v);
  return s === 'sendrecv' || s === 'sendonly' || s === 'recvonly' || s === 'inactive' ? s : null;
}

function fmtpRecord(config: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parseParams(config))) {
    // A key named __proto__ would be swallowed by the object; it is never a real parameter.
    if (k === '__proto__') continue;
    out[k.trim().toLowerCase()] = text(v).trim();
  }
  return out;
}

/**
 * Resolve each payload type of an RTP m= line through a=rtpmap (RFC 4566 6) or, for static
 * numbers without one, RFC 3551 table 4. Unknown dynamic types keep name ''.
 */
function formatsOf(m: MediaDescription, pts: number[]): ParsedFormat[] {
  const rtpmaps = new Map<number, { name: string; clockRate: number; channels: number }>();
  for (const r of Array.isArray(m.rtp) ? m.rtp : []) {
    const pt = integer(r.payload, 0, 127);
    if (pt === null || rtpmaps.has(pt)) continue;
    const enc = text(r.encoding);
    rtpmaps.set(pt, {
      name: text(r.codec).toLowerCase(),
      clockRate: integer(r.rate, 1, 10_000_000) ?? 0,
      // RFC 4566 6: for audio the encoding parameter is the channel count, default one.
      channels: enc === '' ? 1 : (integer(enc, 1, 255) ?? 0),
    });
  }
  const fmtps = new Map<number, string>();
  for (const f of Array.isArray(m.fmtp) ? m.fmtp : []) {
    const pt = integer(f.payload, 0, 127);
    if (pt !== null && !fmtps.has(pt)) fmtps.set(pt, text(f.config).trim());
  }
  return pts.map((pt) => {
    const map = rtpmaps.get(pt) ?? staticPayloadType(pt) ?? { name: '', clockRate: 0, channels: 0 };
    const fmtpLine = fmtps.get(pt) ?? '';
    return { payloadType: pt, ...map, fmtp: fmtpRecord(fmtpLine), fmtpLine };
  });
}

/**
 * The a=ptime value of each m= section as written: sdp-transform reads "1e9" as 1 and "-20" as
 * "", so the policy must see the text itself. Session-level lines (before any m=) are ignored.
 */
function rawPtimes(sdpText: string): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let index = -1;
  for (const line of sdpText.split(/\r\n|\r|\n/)) {
    if (line.startsWith('m=')) index++;
    else if (index >= 0 && out[index] === undefined && line.startsWith('a=ptime:')) out[index] = line.slice(8).trim();
  }
  return out;
}

function parseMedia(
  session: SessionDescription,
  m: MediaDescription,
  index: number,
  rawPtime: string | undefined,
): ParsedMedia {
  const n = index + 1;
  const type = text(m.type).toLowerCase();
  const protocol = text(m.protocol);
  if (type === '' || protocol === '' || m.port === undefined) {
    throw invalid(`m= line ${n} is malformed (expected "m=<media> <port> <proto> <fmt> ...")`);
  }
  const where = `m= line ${n} (${type})`;
  const port = integer(m.port, 0, 65535);
  if (port === null) throw invalid(`${where} port "${text(m.port)}" is out of range 0-65535`);

  const formatTokens = text(m.payloads)
    .split(/\s+/)
    .filter((t) => t !== '');
  if (formatTokens.length === 0 && port !== 0) throw invalid(`${where} lists no formats`);
  let formats: ParsedFormat[] = [];
  if (isRtpProfile(protocol)) {
    const pts: number[] = [];
    for (const tok of formatTokens) {
      const pt = integer(tok, 0, 127);
      if (pt === null) throw invalid(`${where} payload type "${tok}" is out of range 0-127`);
      // A repeated number names the same format; answering it twice would be noise.
      if (!pts.includes(pt)) pts.push(pt);
    }
    formats = formatsOf(m, pts);
  }

  // RFC 4566 5.7: c= at session level, or in every m= section.
  const conn = m.connection ?? session.connection;
  let connectionIp: string | null = null;
  let ipVersion = 0;
  if (conn) {
    ipVersion = integer(conn.version, 0, 9) ?? 0;
    connectionIp = text(conn.ip);
    if (ipVersion !== 4 && ipVersion !== 6)
      throw invalid(`${where} c= address type IP${text(conn.version)} is not IP4 or IP6`);
    if (connectionIp === '') throw invalid(`${where} c= line has no address`);
  } else if (port !== 0) {
    throw invalid(`no c= line for ${where}, neither at session nor at media level`);
  }

  let rtcpPort: number | null = null;
  if (m.rtcp) {
    rtcpPort = integer(m.rtcp.port, 1, 65535);
    if (rtcpPort === null) throw invalid(`${where} a=rtcp port "${text(m.rtcp.port)}" is out of range 1-65535`);
  }
  if (rawPtime !== undefined && !isPtimeText(rawPtime)) {
    throw invalid(
      `${where} a=ptime:${JSON.stringify(rawPtime.slice(0, 20))} is not a packet time (a positive number of milliseconds)`,
    );
  }
  return {
    index,
    type,
    port,
    protocol,
    formatTokens,
    formats,
    connectionIp,
    ipVersion,
    direction: direction(m.direction) ?? direction(session.direction) ?? 'sendrecv',
    rtcpMux: text(m.rtcpMux) === 'rtcp-mux',
    rtcpPort,
    ptime: rawPtime === undefined ? null : Number(rawPtime),
    mid: m.mid === undefined ? null : text(m.mid),
  };
}

/**
 * Parse and validate a remote SDP body (RFC 4566) with sdp-transform. Anything we could not
 * safely act on throws ValidationError('INVALID_SDP') naming the problem; what is well formed but
 * beyond us (IPv6, SRTP) is left for the negotiation to refuse.
 */
export function parseRemoteSdp(sdpText: string): ParsedSdp {
  if (typeof sdpText !== 'string') throw invalid('SDP must be text');
  if (sdpText.trim() === '') throw invalid('SDP is empty');
  if (sdpText.length > MAX_SDP_LENGTH) throw invalid(`SDP is longer than ${MAX_SDP_LENGTH} characters`);
  let session: SessionDescription;
  try {
    session = parse(sdpText);
  } catch {
    throw invalid('SDP is not parseable');
  }
  // RFC 4566 5.1: v=0 is the only version.
  if (session.version === undefined) throw invalid('missing v= line (not an SDP body?)');
  if (text(session.version) !== '0') throw invalid(`unsupported v=${text(session.version)} (only v=0 exists)`);
  const o = session.origin;
  if (!o) throw invalid('missing or malformed o= line');
  if (!/^\d+$/.test(text(o.sessionId)) || !/^\d+$/.test(text(o.sessionVersion))) {
    throw invalid('o= line session id and version must be numeric');
  }
  const media = Array.isArray(session.media) ? session.media : [];
  if (media.length === 0) throw invalid('no m= line');
  const ptimes = rawPtimes(sdpText);
  const parsed = media.map((m, i) => parseMedia(session, m, i, ptimes[i]));
  if (!parsed.some((m) => m.type === 'audio')) throw invalid('no audio m= line');
  return {
    origin: {
      username: text(o.username),
      sessionId: text(o.sessionId),
      sessionVersion: text(o.sessionVersion),
      address: text(o.address),
    },
    sessionName: text(session.name),
    media: parsed,
  };
}
