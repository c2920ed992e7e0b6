import { UnsupportedError, type MediaServerError } from '../../common/errors.ts';
import type { MediaDescription } from 'sdp-transform';
import {
  COMFORT_NOISE,
  describeFormat,
  matchFormat,
  parseLocalCodecs,
  rtpmapName,
  SUPPORTED_CODECS,
  TELEPHONE_EVENT,
  type LocalCodecSet,
} from './codecTable.ts';
import { answerDirection, effectiveRemoteDirection, isRemoteHold } from './direction.ts';
import { parseRemoteSdp } from './parseRemoteSdp.ts';
import { packetTime } from './ptime.ts';
import { addressError, isPlainRtp, remoteTransport } from './remoteMedia.ts';
import type {
  AnswerResult,
  LocalMediaOptions,
  NegotiatedCodec,
  NegotiatedComfortNoise,
  NegotiatedMedia,
  NegotiatedTelephoneEvent,
  ParsedFormat,
  ParsedMedia,
} from './types.ts';
import {
  audioMedia,
  DEFAULT_PTIME,
  opusFmtp,
  rejectedMedia,
  TELEPHONE_EVENTS,
  validateLocal,
  writeSdp,
  type OutFormat,
} from './writeSdp.ts';

/** RFC 4733 7.1.1: without fmtp the receiver supports events 0-15. */
const DEFAULT_EVENTS = '0-15';

function ourCodecNames(local: LocalCodecSet): string {
  const names = local.codecs.flatMap((c) =>
    c.clockRates.map((r) => {
      const info = SUPPORTED_CODECS.find((s) => s.name === c.name && s.clockRate === r);
      return `${rtpmapName(c.name)}/${r}${info?.rtpmapChannels === 2 ? '/2' : ''}`;
    }),
  );
  return names.join(', ');
}

/** The common codecs of one m= line, in the offer's order, or why there are none. */
function commonFormats(m: ParsedMedia, local: LocalCodecSet): { accepted: ParsedFormat[]; refused: string[] } {
  const accepted: ParsedFormat[] = [];
  const refused: string[] = [];
  for (const f of m.formats) {
    if (f.name === TELEPHONE_EVENT || f.name === COMFORT_NOISE) continue;
    const match = matchFormat(f, local);
    if (typeof match === 'string') refused.push(`${describeFormat(f)}: ${match}`);
    else accepted.push(f);
  }
  return { accepted, refused };
}

/** Remote ptime within our limits, else ours: RFC 4566 6 makes it a receiver's wish, so it is echoed. */
function ptimeFor(m: ParsedMedia, local: LocalMediaOptions, codecName: string): number {
  return packetTime(m.ptime, codecName, local.ptime ?? DEFAULT_PTIME);
}

function toNegotiated(f: ParsedFormat, ptime: number): NegotiatedCodec {
  return {
    name: f.name,
    payloadType: f.payloadType,
    clockRate: f.clockRate,
    channels: f.channels,
    fmtp: f.fmtp,
    ptime,
  };
}

/**
 * The telephone-event format to answer: the one at the codec's clock (RFC 4733 2.1), else one at
 * another clock (baresip offers opus/48000 with telephone-event/8000 only). The receiver reads
 * event durations in the event format's own clock, so a differing one is accepted, not dropped.
 * Among other clocks 8000 is preferred: the rate every implementation supports.
 */
function pickTelephoneEvent(m: ParsedMedia, clockRate: number): ParsedFormat | null {
  const events = m.formats.filter((f) => f.name === TELEPHONE_EVENT && f.channels === 1 && f.clockRate > 0);
  return events.find((f) => f.clockRate === clockRate) ?? events.find((f) => f.clockRate === 8000) ?? events[0] ?? null;
}

/**
 * Answer a remote offer (RFC 3264 6). The first audio m= line we can serve is accepted, every
 * other m= line is refused with port 0, keeping their number and order. The answer has ONE audio
 * codec, the first of the offer's we support (the offerer's preference, 6.1), with the offerer's
 * payload type number; plus one telephone-event (preferably at the codec's clock, RFC 4733 2.1)
 * and CN (RFC 3389) when offered at the codec's clock. Every format answered is one the endpoint
 * accepts. rtcp-mux is answered when offered (RFC 5761 5.1.1).
 *
 * Throws ValidationError('INVALID_SDP') for a malformed offer, UnsupportedError for one we cannot
 * serve: NO_COMMON_CODEC, UNSUPPORTED_TRANSPORT (SRTP, DTLS), UNSUPPORTED_ADDRESS (IPv6); a
 * destination that can never be right (broadcast, multicast, a port below 1024) is INVALID_SDP;
 * NO_AUDIO_STREAM (every audio m= line has port 0).
 */
export function createAnswer(remoteOfferText: string, local: LocalMediaOptions): AnswerResult {
  validateLocal(local);
  const allowed = parseLocalCodecs(local.codecs);
  const offer = parseRemoteSdp(remoteOfferText);

  let chosen: { m: ParsedMedia; accepted: ParsedFormat[] } | null = null;
  let firstProblem: MediaServerError | null = null;
  for (const m of offer.media) {
    if (m.type !== 'audio' || m.port === 0) continue;
    const where = `m= line ${m.index + 1} (audio)`;
    let problem: MediaServerError | null = null;
    const badAddress = addressError(m);
    if (!isPlainRtp(m.protocol)) {
      problem = new UnsupportedError(
        'UNSUPPORTED_TRANSPORT',
        `${where} uses ${m.protocol}; only RTP/AVP and RTP/AVPF are supported (no SRTP/DTLS)`,
      );
    } else if (badAddress !== null) {
      problem = badAddress;
    } else {
      const { accepted, refused } = commonFormats(m, allowed);
      if (accepted.length > 0) {
        chosen = { m, accepted };
        break;
      }
      const has = refused.length > 0 ? refused.join(', ') : 'only telephone-event';
      problem = new UnsupportedError(
        'NO_COMMON_CODEC',
        `no common codec in ${where}: the offer has ${has}; we support ${ourCodecNames(allowed)}`,
      );
    }
    firstProblem ??= problem;
  }
  if (chosen === null) {
    throw (
      firstProblem ??
      new UnsupportedError('NO_AUDIO_STREAM', 'the offer has no active audio stream (every audio m= line has port 0)')
    );
  }

  const { m } = chosen;
  const first = chosen.accepted[0] as ParsedFormat;
  const ptime = ptimeFor(m, local, first.name);
  // One codec (RFC 3264 6.1 allows a subset): the peer may switch among answered formats at any
  // time, and the endpoint sends and receives exactly one, as FreeSWITCH and rtpengine answer.
  const codec = toNegotiated(first, ptime);
  const codecs = [codec];

  const teFormat = allowed.telephoneEvent ? pickTelephoneEvent(m, codec.clockRate) : null;
  const telephoneEvent: NegotiatedTelephoneEvent | null = teFormat
    ? {
        payloadType: teFormat.payloadType,
        clockRate: teFormat.clockRate,
        events: teFormat.fmtpLine === '' ? DEFAULT_EVENTS : teFormat.fmtpLine,
      }
    : null;
  // RFC 3389: CN at the codec's clock only (its timestamps run on the audio clock), and only
  // when the offer has it: we never offer CN ourselves.
  const cnFormat =
    m.formats.find((f) => f.name === COMFORT_NOISE && f.clockRate === codec.clockRate && f.channels === 1) ?? null;
  const comfortNoise: NegotiatedComfortNoise | null = cnFormat
    ? { payloadType: cnFormat.payloadType, clockRate: cnFormat.clockRate }
    : null;

  const rtcpMux = m.rtcpMux && local.rtcpMux !== false;
  const remoteDirection = effectiveRemoteDirection(m);
  const direction = answerDirection(local.direction ?? 'sendrecv', remoteDirection);

  const formats: OutFormat[] = [
    {
      payloadType: codec.payloadType,
      name: codec.name,
      clockRate: codec.clockRate,
      channels: codec.channels,
      fmtp: codec.name === 'opus' ? opusFmtp(local) : '',
    },
  ];
  if (teFormat)
    formats.push({
      payloadType: teFormat.payloadType,
      name: TELEPHONE_EVENT,
      clockRate: teFormat.clockRate,
      channels: 1,
      fmtp: TELEPHONE_EVENTS,
    });
  if (cnFormat)
    formats.push({
      payloadType: cnFormat.payloadType,
      name: COMFORT_NOISE,
      clockRate: cnFormat.clockRate,
      channels: 1,
      fmtp: '',
    });
  const media: MediaDescription[] = offer.media.map((om) =>
    om === m
      ? audioMedia({
          port: local.rtpPort,
          protocol: m.protocol,
          formats,
          // With rtcp-mux the RTP port carries RTCP; otherwise say where ours is (RFC 3605).
          rtcpPort: rtcpMux ? null : local.rtcpPort,
          rtcpMux,
          ptime,
          direction,
          mid: m.mid,
        })
      : rejectedMedia(om.type, om.protocol, om.formatTokens, om.mid),
  );

  const negotiated: NegotiatedMedia = {
    remote: remoteTransport(m, rtcpMux),
    rtcpMux,
    codec,
    telephoneEvent,
    comfortNoise,
    direction,
    remoteDirection,
    onHold: isRemoteHold(m),
    codecs,
    mediaIndex: m.index,
  };
  return { ...writeSdp(local, media), media: negotiated };
}
