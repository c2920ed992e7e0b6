/**
 * SIP messages (RFC 3261 §7) for the test UAS: parse a datagram into a start line, headers and
 * body; build one back. Only what a UAS over UDP needs; not product code.
 */

/** Compact header forms (RFC 3261 §7.3.3) mapped to their full names, lower case. */
const COMPACT: Record<string, string> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  k: 'supported',
  s: 'subject',
};

export interface SipRequest {
  kind: 'request';
  method: string;
  uri: string;
  /** Header values by lower-case full name, in order of appearance (Via may repeat). */
  headers: Map<string, string[]>;
  body: string;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  body: string;
}

export type SipMessage = SipRequest | SipResponse;

/** Parses one UDP datagram; throws on anything that is not a SIP message. */
export function parseSip(datagram: Buffer): SipMessage {
  const text = datagram.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) throw new Error('SIP message without an empty line after the headers');
  const lines = text.slice(0, split).split('\r\n');
  const start = lines.shift() ?? '';
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    // a line starting with white space continues the previous header (§7.3.1)
    if (/^[ \t]/.test(line)) {
      const last = [...headers.values()].at(-1);
      if (last && last.length > 0) last[last.length - 1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line: ${line}`);
    const raw = line.slice(0, colon).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    const value = line.slice(colon + 1).trim();
    // Via and Contact may carry comma-separated values; split them (no quoted commas in these)
    const values = name === 'via' ? value.split(',').map((v) => v.trim()) : [value];
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
  }
  const length = Number(headers.get('content-length')?.[0] ?? '0');
  const body = Buffer.from(text.slice(split + 4), 'utf8')
    .subarray(0, length)
    .toString('utf8');
  const response = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(start);
  if (response) return { kind: 'response', status: Number(response[1]), reason: response[2]!, headers, body };
  const request = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(start);
  if (!request) throw new Error(`bad start line: ${start}`);
  return { kind: 'request', method: request[1]!, uri: request[2]!, headers, body };
}

/** The first value of a header, or '' when absent. */
export function header(msg: SipMessage, name: string): string {
  return msg.headers.get(name)?.[0] ?? '';
}

/** A parameter of a header value (`;tag=abc` → 'abc'), or null. */
export function headerParam(value: string, param: string): string | null {
  const m = new RegExp(`;\\s*${param}=([^;>\\s,]+)`, 'i').exec(value);
  return m ? m[1]! : null;
}

/** The URI inside a name-addr (`"Bob" <sip:bob@host>;tag=1` → sip:bob@host) or an addr-spec. */
export function nameAddrUri(value: string): string {
  const m = /<([^>]+)>/.exec(value);
  return m ? m[1]! : value.split(';')[0]!.trim();
}

/** Host and port of a SIP URI (port 5060 when absent). */
export function uriHostPort(uri: string): { host: string; port: number } {
  const m = /^sips?:(?:[^@]+@)?([^:;>]+)(?::(\d+))?/.exec(uri);
  if (!m) throw new Error(`not a SIP URI: ${uri}`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 5060 };
}

/** Serialises a message: headers in the given order, Content-Length computed from the body. */
export function buildSip(startLine: string, headers: Array<[string, string]>, body = ''): Buffer {
  const lines = [startLine, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body !== '') lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

/** A random token for tags and branches (branches get the RFC 3261 magic cookie). */
export function token(prefix = ''): string {
  return prefix + Math.random().toString(36).slice(2, 12);
}
