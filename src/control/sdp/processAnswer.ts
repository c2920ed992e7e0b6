import { UnsupportedError, ValidationError } from '../../common/errors.ts';
import { describeFormat, SUPPORTED_CODECS, TELEPHONE_EVENT } from './codecTable.ts';
import { answerDirection, effectiveRemoteDirection, isRemoteHold } from './direction.ts';
import { parseRemoteSdp } from './parseRemoteSdp.ts';
import { packetTime } from './ptime.ts';
import { addressError, remoteTransport } from './remoteMedia.ts';
import type { NegotiatedCodec, NegotiatedMedia, NegotiatedTelephoneEvent, ParsedFormat } from './types.ts';
import { DEFAULT_PTIME } from './writeSdp.ts';

function sameFormat(a: ParsedFormat, b: ParsedFormat): boolean {
  if (a.name !== b.name || a.clockRate !== b.clockRate) return false;
  // opus/48000 and opus/48000/2 name the same thing (RFC 7587 7 always says /2).
  return a.name === 'opus' || a.channels === b.channels;
}

function isSupported(f: ParsedFormat): boolean {
  return SUPPORTED_CODECS.some((c) => c.name === f.name && c.clockRate === f.clockRate);
}

/**
 * Read the remote answer to our offer (RFC 3264 7). The answer's audio m= line sits at the index of
 * our audio line; the codecs used are those of the answer that we offered, identified by encoding
 * and clock rate and mapped by the ANSWER's payload type numbers (what the remote expects to
 * receive). Formats the answerer added beyond our offer are ignored (6.1).
 */
export function processAnswer(ourOfferText: string, answerText: string): NegotiatedMedia {
  const offer = parseRemoteSdp(ourOfferText);
  const answer = parseRemoteSdp(answerText);
  if (answer.media.length !== offer.media.length) {
    throw new ValidationError(
      'INVALID_SDP',
      `the answer has ${answer.media.length} m= lines, our offer had ${offer.media.length} (RFC 3264 6)`,
    );
  }
  const om = offer.media.find((m) => m.type === 'audio' && m.port !== 0);
  if (!om) throw new ValidationError('INVALID_SDP', 'our offer has no active audio stream');
  const am = answer.media[om.index];
  if (!am || am.type !== 'audio') {
    throw new ValidationError(
      'INVALID_SDP',
      `m= line ${om.index + 1} of the answer is ${am?.type ?? 'missing'}, our offer had audio there`,
    );
  }
  if (am.port === 0)
    throw new UnsupportedError(
      'STREAM_REJECTED',
      `the answer refused the audio stream (m= line ${om.index + 1} port 0)`,
    );
  const addressProblem = addressError(am);
  if (addressProblem !== null) throw addressProblem;

  const used = am.formats.filter(
    (f) => f.name !== TELEPHONE_EVENT && isSupported(f) && om.formats.some((o) => sameFormat(o, f)),
  );
  const ptime = packetTime(am.ptime, used[0]?.name ?? '', om.ptime ?? DEFAULT_PTIME);
  const codecs: NegotiatedCodec[] = used.map((f) => ({
    name: f.name,
    payloadType: f.payloadType,
    clockRate: f.clockRate,
    channels: f.channels,
    fmtp: f.fmtp,
    ptime,
  }));
  const codec = codecs[0];
  if (!codec) {
    const has = am.formats.map(describeFormat).join(', ') || 'nothing';
    throw new ValidationError('INVALID_SDP', `the answer picks none of the codecs we offered (it has ${has})`);
  }

  // The answer's telephone-event we offered: at the codec's clock (RFC 4733 2.1), else at the
  // clock the answerer chose (durations are read in that clock).
  const offeredEvents = am.formats.filter(
    (f) =>
      f.name === TELEPHONE_EVENT &&
      f.clockRate > 0 &&
      om.formats.some((o) => o.name === TELEPHONE_EVENT && o.clockRate === f.clockRate),
  );
  const te = offeredEvents.find((f) => f.clockRate === codec.clockRate) ?? offeredEvents[0];
  const telephoneEvent: NegotiatedTelephoneEvent | null = te
    ? { payloadType: te.payloadType, clockRate: te.clockRate, events: te.fmtpLine === '' ? '0-15' : te.fmtpLine }
    : null;

  const rtcpMux = om.rtcpMux && am.rtcpMux;
  const remoteDirection = effectiveRemoteDirection(am);
  return {
    remote: remoteTransport(am, rtcpMux),
    rtcpMux,
    codec,
    telephoneEvent,
    // We offer no CN (README: answered only when offered), so an answer cannot add it (6.1).
    comfortNoise: null,
    direction: answerDirection(om.direction, remoteDirection),
    remoteDirection,
    onHold: isRemoteHold(am),
    codecs,
    mediaIndex: om.index,
  };
}
