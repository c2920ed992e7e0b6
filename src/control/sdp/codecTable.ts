import { ValidationError } from '../../common/errors.ts';
import type { CodecInfo } from '../../protocol/codecs.ts';
import type { ParsedFormat } from './types.ts';

/**
 * The codecs this server can terminate, as SDP sees them. G.722 advertises 8000 although it
 * samples at 16 kHz (RFC 3551 4.5.2); Opus is always opus/48000/2 (RFC 7587 7).
 */
export const SUPPORTED_CODECS: readonly CodecInfo[] = [
  { name: 'pcmu', staticPayloadType: 0, clockRate: 8000, sampleRate: 8000, rtpmapChannels: 1 },
  { name: 'pcma', staticPayloadType: 8, clockRate: 8000, sampleRate: 8000, rtpmapChannels: 1 },
  { name: 'g722', staticPayloadType: 9, clockRate: 8000, sampleRate: 16000, rtpmapChannels: 1 },
  { name: 'opus', clockRate: 48000, sampleRate: 48000, rtpmapChannels: 2 },
  { name: 'l16', clockRate: 16000, sampleRate: 16000, rtpmapChannels: 1 },
  { name: 'l16', clockRate: 8000, sampleRate: 8000, rtpmapChannels: 1 },
  { name: 'l16', clockRate: 48000, sampleRate: 48000, rtpmapChannels: 1 },
];

export const TELEPHONE_EVENT = 'telephone-event';
/** RFC 3389 comfort noise (static payload type 13 at 8000 Hz, dynamic at other rates). */
export const COMFORT_NOISE = 'cn';

/** RFC 3551 table 4 (and 5 for the video ones that show up in audio offers by mistake). */
const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, { name: string; clockRate: number; channels: number }> = new Map([
  [0, { name: 'pcmu', clockRate: 8000, channels: 1 }],
  [3, { name: 'gsm', clockRate: 8000, channels: 1 }],
  [4, { name: 'g723', clockRate: 8000, channels: 1 }],
  [5, { name: 'dvi4', clockRate: 8000, channels: 1 }],
  [6, { name: 'dvi4', clockRate: 16000, channels: 1 }],
  [7, { name: 'lpc', clockRate: 8000, channels: 1 }],
  [8, { name: 'pcma', clockRate: 8000, channels: 1 }],
  [9, { name: 'g722', clockRate: 8000, channels: 1 }],
  [10, { name: 'l16', clockRate: 44100, channels: 2 }],
  [11, { name: 'l16', clockRate: 44100, channels: 1 }],
  [12, { name: 'qcelp', clockRate: 8000, channels: 1 }],
  [13, { name: 'cn', clockRate: 8000, channels: 1 }],
  [14, { name: 'mpa', clockRate: 90000, channels: 1 }],
  [15, { name: 'g728', clockRate: 8000, channels: 1 }],
  [16, { name: 'dvi4', clockRate: 11025, channels: 1 }],
  [17, { name: 'dvi4', clockRate: 22050, channels: 1 }],
  [18, { name: 'g729', clockRate: 8000, channels: 1 }],
  [25, { name: 'celb', clockRate: 90000, channels: 1 }],
  [26, { name: 'jpeg', clockRate: 90000, channels: 1 }],
  [28, { name: 'nv', clockRate: 90000, channels: 1 }],
  [31, { name: 'h261', clockRate: 90000, channels: 1 }],
  [32, { name: 'mpv', clockRate: 90000, channels: 1 }],
  [33, { name: 'mp2t', clockRate: 90000, channels: 1 }],
  [34, { name: 'h263', clockRate: 90000, channels: 1 }],
]);

export function staticPayloadType(pt: number): { name: string; clockRate: number; channels: number } | undefined {
  return STATIC_PAYLOAD_TYPES.get(pt);
}

/** One entry of the caller's codec list, resolved. `clockRates` lists what it accepts. */
export interface LocalCodec {
  name: string;
  /** Rates accepted in an answer. */
  clockRates: readonly number[];
  /** Rates put in an offer: a bare 'l16' offers 16000 only, not all three. */
  offerRates: readonly number[];
}

/** The caller's allowed codecs, validated, in its order; telephone-event reported apart. */
export interface LocalCodecSet {
  codecs: LocalCodec[];
  telephoneEvent: boolean;
}

const LOCAL_NAMES = 'pcmu, pcma, g722, opus, l16, l16/8000, l16/16000, l16/48000, telephone-event';

export function parseLocalCodecs(list: readonly string[]): LocalCodecSet {
  if (!Array.isArray(list)) {
    throw new ValidationError('INVALID_CODECS', `codecs must be a list of names (${LOCAL_NAMES})`);
  }
  const codecs: LocalCodec[] = [];
  let telephoneEvent = false;
  for (const entry of list) {
    const spec = String(entry).trim().toLowerCase();
    if (spec === TELEPHONE_EVENT) {
      telephoneEvent = true;
      continue;
    }
    const [name = '', rate] = spec.split('/');
    const known = SUPPORTED_CODECS.filter((c) => c.name === name);
    if (known.length === 0) {
      throw new ValidationError('INVALID_CODECS', `unknown codec "${entry}"; supported: ${LOCAL_NAMES}`);
    }
    let clockRates = known.map((c) => c.clockRate);
    let offerRates = clockRates.slice(0, 1);
    if (rate !== undefined) {
      const r = Number(rate);
      if (!clockRates.includes(r)) {
        throw new ValidationError('INVALID_CODECS', `unsupported clock rate in "${entry}"; supported: ${LOCAL_NAMES}`);
      }
      clockRates = [r];
      offerRates = [r];
    }
    const existing = codecs.find((c) => c.name === name);
    if (existing) {
      existing.clockRates = [...new Set([...existing.clockRates, ...clockRates])];
      existing.offerRates = [...new Set([...existing.offerRates, ...offerRates])];
    } else {
      codecs.push({ name, clockRates, offerRates });
    }
  }
  if (codecs.length === 0) {
    throw new ValidationError('INVALID_CODECS', `codecs names no audio codec; supported: ${LOCAL_NAMES}`);
  }
  return { codecs, telephoneEvent };
}

/**
 * Whether a remote format is one of ours. Returns the matching table entry, or a short reason
 * naming why not (used in the NO_COMMON_CODEC message).
 */
export function matchFormat(format: ParsedFormat, local: LocalCodecSet): CodecInfo | string {
  if (format.name === '') return 'no rtpmap';
  const known = SUPPORTED_CODECS.filter((c) => c.name === format.name);
  if (known.length === 0) return 'not supported';
  const allowed = local.codecs.find((c) => c.name === format.name);
  if (!allowed) return 'not allowed here';
  const info = known.find((c) => c.clockRate === format.clockRate);
  if (!info || !allowed.clockRates.includes(format.clockRate)) return `clock rate ${format.clockRate} not supported`;
  // RFC 7587 7 requires opus/48000/2; a /1 is tolerated since we send mono anyway.
  const channelsOk = format.name === 'opus' ? format.channels === 1 || format.channels === 2 : format.channels === 1;
  if (!channelsOk) return `${format.channels} channels not supported`;
  return info;
}

/** rtpmap encoding name as conventionally written (RFC 3551 / RFC 7587 spell them so). */
export function rtpmapName(name: string): string {
  return name === 'opus' || name === TELEPHONE_EVENT ? name : name.toUpperCase();
}

/** 'PCMU/8000', 'opus/48000/2': for messages. */
export function describeFormat(f: { name: string; clockRate: number; channels: number; payloadType: number }): string {
  if (f.name === '') return `PT ${f.payloadType}`;
  const name = rtpmapName(f.name);
  const ch = f.channels !== 1 ? `/${f.channels}` : '';
  return `${name}/${f.clockRate}${ch} (PT ${f.payloadType})`;
}
