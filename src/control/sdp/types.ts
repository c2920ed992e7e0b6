/**
 * Plain data shapes of SDP negotiation (RFC 4566 descriptions, RFC 3264 offer/answer).
 * Everything here crosses the worker channel and the API as is: no classes, no functions.
 */

import type { Direction } from '../../protocol/endpoint.ts';

/** RFC 3264 5.1 / RFC 4566 6 media direction, always from the point of view of its writer. */
export type { Direction };

/** One payload format the two sides agreed on. */
export interface NegotiatedCodec {
  /** Lower-case encoding name as `Codec.name`: 'pcmu', 'pcma', 'g722', 'opus', 'l16'. */
  name: string;
  /** Payload type to put in (and expect in) RTP headers: the offerer's number (RFC 3264 6.1). */
  payloadType: number;
  /** RTP clock rate (G.722: 8000, RFC 3551 4.5.2). */
  clockRate: number;
  /** Channels as written in rtpmap (Opus: 2, RFC 7587 7). */
  channels: number;
  /**
   * The remote side's format parameters for this payload type: how it wants to receive
   * (RFC 7587 7.1: maxaveragebitrate, useinbandfec, stereo are receiver preferences).
   */
  fmtp: Record<string, string>;
  /** Packet time in ms the remote asked for (a=ptime), else ours. */
  ptime: number;
}

export interface RemoteTransport {
  /** Where to send RTP; IPv4 dotted quad. */
  ip: string;
  rtpPort: number;
  /** RFC 3605 a=rtcp, else RTP port + 1 (RFC 3550 11), or the RTP port with rtcp-mux. */
  rtcpPort: number;
}

/**
 * RFC 4733 telephone-event payload agreed on: at the audio codec's clock rate (RFC 4733 2.1) when
 * the peer offers it there, else at the clock the peer offers (telephone-event/8000 with Opus):
 * event durations are read and written in this clock.
 */
export interface NegotiatedTelephoneEvent {
  payloadType: number;
  clockRate: number;
  /** Event list from the remote fmtp (default '0-15', RFC 4733 7.1.1). */
  events: string;
}

/** RFC 3389 comfort noise agreed on, at the audio codec's clock rate. */
export interface NegotiatedComfortNoise {
  payloadType: number;
  clockRate: number;
}

/** The result of an offer/answer exchange for the one audio stream we terminate. */
export interface NegotiatedMedia {
  /** null while the remote gives no address to send to (c=0.0.0.0 hold, RFC 3264 8.4). */
  remote: RemoteTransport | null;
  /** RFC 5761: RTP and RTCP share the RTP port. */
  rtcpMux: boolean;
  /** The codec to send with: the first of `codecs`. */
  codec: NegotiatedCodec;
  telephoneEvent: NegotiatedTelephoneEvent | null;
  comfortNoise: NegotiatedComfortNoise | null;
  /** OUR direction: whether we may send and/or should expect to receive. */
  direction: Direction;
  /** The remote's direction as it wrote it, with a c=0.0.0.0 hold read as not receiving. */
  remoteDirection: Direction;
  /** The remote put the stream on hold (sendonly/inactive, or c=0.0.0.0, RFC 3264 8.4). */
  onHold: boolean;
  /**
   * Every audio codec agreed on. Our answers name one codec, so it is `[codec]`; from a peer's
   * answer to our offer, the ones it listed that we offered (we send and expect the first).
   */
  codecs: NegotiatedCodec[];
  /** Index of the audio m= line negotiated, in the offer. */
  mediaIndex: number;
}

/** What we are and what we allow; the input of createOffer and createAnswer. */
export interface LocalMediaOptions {
  /** Our IPv4 address written in c= and o=. */
  ip: string;
  rtpPort: number;
  rtcpPort: number;
  /**
   * Codecs we allow, in our preference order: 'pcmu', 'pcma', 'g722', 'opus', 'l16'
   * (= 'l16/16000' in offers, any of 8000/16000/48000 in answers), 'l16/8000', 'l16/16000',
   * 'l16/48000', 'telephone-event'. Case-insensitive.
   */
  codecs: readonly string[];
  /** The direction we want; combined with the remote's (RFC 3264 6.1). Default 'sendrecv'. */
  direction?: Direction;
  /** o= session id: digits, stable for the whole dialog (RFC 4566 5.2). */
  sessionId: string | number;
  /**
   * o= version. For a first SDP, the version to write; with `previousSdp`, the version written
   * in it: kept when nothing changed, incremented otherwise (RFC 3264 8).
   */
  sessionVersion: number;
  /** The SDP we last sent in this session (re-INVITE / re-offer). */
  previousSdp?: string;
  /** Packet time to ask for, in ms. Default 20. */
  ptime?: number;
  /** Offer (or accept) RTP/RTCP multiplexing, RFC 5761. Default true. */
  rtcpMux?: boolean;
  /**
   * The media in use when we offer again in an established session (hold, resume): the re-offer
   * names only its codec and telephone-event, with their payload type numbers (RFC 3264 8.3.2),
   * as our answers name one codec (README: answer policy).
   */
  negotiated?: { codec: NegotiatedCodec; telephoneEvent: NegotiatedTelephoneEvent | null };
  /** Our receive preferences for Opus, RFC 7587 7.1. */
  opus?: { maxAverageBitrate?: number; useInbandFec?: boolean };
}

export interface SdpResult {
  sdp: string;
  /** The o= version written (RFC 3264 8): keep it for the next `previousSdp` round. */
  sessionVersion: number;
}

export interface AnswerResult extends SdpResult {
  media: NegotiatedMedia;
}

/** One payload type of an m= line, resolved through rtpmap or the RFC 3551 static table. */
export interface ParsedFormat {
  payloadType: number;
  /** Lower case; '' when a dynamic payload type has no rtpmap. */
  name: string;
  clockRate: number;
  channels: number;
  fmtp: Record<string, string>;
  /** The raw fmtp line value, '' when none. */
  fmtpLine: string;
}

/** One m= line, validated, with session-level defaults applied (RFC 4566 5). */
export interface ParsedMedia {
  index: number;
  type: string;
  port: number;
  protocol: string;
  /** The m= line's format list as written (numbers for RTP, tokens otherwise). */
  formatTokens: string[];
  /** RTP profiles only; in m= line order. */
  formats: ParsedFormat[];
  /** Effective c= address (media level, else session level); null only for port 0 lines. */
  connectionIp: string | null;
  /** 4 or 6 from c= IN IPx; 0 when there is no c=. */
  ipVersion: number;
  direction: Direction;
  rtcpMux: boolean;
  /** a=rtcp port (RFC 3605), null when absent. */
  rtcpPort: number | null;
  ptime: number | null;
  mid: string | null;
}

export interface ParsedSdp {
  origin: { username: string; sessionId: string; sessionVersion: string; address: string };
  sessionName: string;
  media: ParsedMedia[];
}
