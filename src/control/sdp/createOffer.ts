import { parseLocalCodecs, SUPPORTED_CODECS, TELEPHONE_EVENT, type LocalCodecSet } from './codecTable.ts';
import type { LocalMediaOptions, SdpResult } from './types.ts';
import {
  audioMedia,
  DEFAULT_PTIME,
  opusFmtp,
  TELEPHONE_EVENTS,
  validateLocal,
  writeSdp,
  type OutFormat,
} from './writeSdp.ts';

/** RFC 3551 6: dynamic payload types are 96-127. */
const FIRST_DYNAMIC_PT = 96;

/**
 * Our offer (RFC 3264 5): one audio stream with our codecs in preference order, static payload
 * types where RFC 3551 assigns one and dynamic ones from 96 for the rest, telephone-event at each
 * audio clock rate (RFC 4733 2.1: events use the clock of the audio they go with), a=rtcp-mux
 * with a=rtcp as the fallback port (RFC 5761 5.1.3, RFC 3605). No CN: we answer it when offered.
 * A re-offer in an established session (`negotiated`) names only the codec and telephone-event
 * in use.
 */
export function createOffer(local: LocalMediaOptions): SdpResult {
  validateLocal(local);
  const allowed = parseLocalCodecs(local.codecs);
  const formats = local.negotiated ? inUse(local, local.negotiated) : allFormats(local, allowed);
  const mux = local.rtcpMux !== false;
  return writeSdp(local, [
    audioMedia({
      port: local.rtpPort,
      protocol: 'RTP/AVP',
      formats,
      rtcpPort: local.rtcpPort,
      rtcpMux: mux,
      ptime: local.negotiated?.codec.ptime ?? local.ptime ?? DEFAULT_PTIME,
      direction: local.direction ?? 'sendrecv',
      mid: null,
    }),
  ]);
}

/** A re-offer: the codec and telephone-event in use, nothing the peer could switch to. */
function inUse(local: LocalMediaOptions, n: NonNullable<LocalMediaOptions['negotiated']>): OutFormat[] {
  const c = n.codec;
  const formats: OutFormat[] = [
    {
      payloadType: c.payloadType,
      name: c.name,
      clockRate: c.clockRate,
      channels: c.channels,
      fmtp: c.name === 'opus' ? opusFmtp(local) : '',
    },
  ];
  const te = n.telephoneEvent;
  if (te)
    formats.push({
      payloadType: te.payloadType,
      name: TELEPHONE_EVENT,
      clockRate: te.clockRate,
      channels: 1,
      fmtp: TELEPHONE_EVENTS,
    });
  return formats;
}

function allFormats(local: LocalMediaOptions, allowed: LocalCodecSet): OutFormat[] {
  const formats: OutFormat[] = [];
  let nextPt = FIRST_DYNAMIC_PT;
  for (const c of allowed.codecs) {
    for (const rate of c.offerRates) {
      const info = SUPPORTED_CODECS.find((s) => s.name === c.name && s.clockRate === rate);
      if (!info) continue;
      formats.push({
        payloadType: info.staticPayloadType ?? nextPt++,
        name: info.name,
        clockRate: info.clockRate,
        channels: info.rtpmapChannels ?? 1,
        fmtp: info.name === 'opus' ? opusFmtp(local) : '',
      });
    }
  }
  if (allowed.telephoneEvent) {
    const rates = [...new Set(formats.map((f) => f.clockRate))];
    for (const rate of rates) {
      formats.push({
        payloadType: nextPt++,
        name: TELEPHONE_EVENT,
        clockRate: rate,
        channels: 1,
        fmtp: TELEPHONE_EVENTS,
      });
    }
  }
  return formats;
}
