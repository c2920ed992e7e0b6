/** SDP offer/answer (RFC 4566, RFC 3264) over sdp-transform: pure functions, plain data. */
export { parseRemoteSdp } from './parseRemoteSdp.ts';
export { createOffer } from './createOffer.ts';
export { createAnswer } from './createAnswer.ts';
export { processAnswer } from './processAnswer.ts';
export { isRemoteHold, answerDirection } from './direction.ts';
export { SUPPORTED_CODECS } from './codecTable.ts';
export type {
  AnswerResult,
  Direction,
  LocalMediaOptions,
  NegotiatedCodec,
  NegotiatedMedia,
  NegotiatedTelephoneEvent,
  ParsedFormat,
  ParsedMedia,
  ParsedSdp,
  RemoteTransport,
  SdpResult,
} from './types.ts';
