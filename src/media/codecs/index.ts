import { UnsupportedError } from '../../common/errors.ts';
import type { Codec, CodecInfo } from './Codec.ts';
import { PcmaCodec, PcmuCodec } from './g711.ts';
import { G722Codec } from './g722.ts';
import { L16Codec } from './l16.ts';
import { OpusCodec } from './opus.ts';

export type { Codec, CodecInfo } from './Codec.ts';
export { PcmuCodec, PcmaCodec } from './g711.ts';
export { G722Codec } from './g722.ts';
export { L16Codec } from './l16.ts';
export { OpusCodec } from './opus.ts';

/**
 * What we can negotiate, in our order of preference for an offer. Static payload types and clock
 * rates per RFC 3551 table 4 (G.722's 8000 is the RFC's historical clock rate, section 4.5.2);
 * Opus per RFC 7587 (48000/2 always); L16 at telephony rates uses dynamic payload types.
 */
export const CODEC_INFO: readonly Readonly<CodecInfo>[] = Object.freeze(
  [
    { name: 'opus', clockRate: 48000, sampleRate: 48000, rtpmapChannels: 2 },
    { name: 'g722', staticPayloadType: 9, clockRate: 8000, sampleRate: 16000 },
    { name: 'pcmu', staticPayloadType: 0, clockRate: 8000, sampleRate: 8000 },
    { name: 'pcma', staticPayloadType: 8, clockRate: 8000, sampleRate: 8000 },
    { name: 'l16', clockRate: 48000, sampleRate: 48000 },
    { name: 'l16', clockRate: 16000, sampleRate: 16000 },
    { name: 'l16', clockRate: 8000, sampleRate: 8000 },
  ].map((c) => Object.freeze(c)),
);

/** The CodecInfo for an rtpmap name (case-insensitive) and optional clock rate, if we support it. */
export function findCodecInfo(name: string, clockRate?: number): Readonly<CodecInfo> | undefined {
  const n = name.toLowerCase();
  return CODEC_INFO.find((c) => c.name === n && (clockRate === undefined || c.clockRate === clockRate));
}

export interface CreateCodecOptions {
  /** RTP clock rate from the rtpmap; selects the L16 rate, checked for the others. */
  clockRate?: number;
  /** Opus target bitrate in bit/s (SDP maxaveragebitrate). */
  bitrate?: number;
  /** Opus in-band FEC (SDP useinbandfec=1). */
  fec?: boolean;
  /** Opus PCM rate when the engine runs narrowband or wideband (default 48000). */
  sampleRate?: number;
}

/** Builds a codec by rtpmap name; throws UnsupportedError for anything not in CODEC_INFO. */
export function createCodec(name: string, options: CreateCodecOptions = {}): Codec {
  const info = findCodecInfo(name, options.clockRate);
  if (!info) {
    const rate = options.clockRate === undefined ? '' : `/${options.clockRate}`;
    throw new UnsupportedError('UNSUPPORTED_CODEC', `codec ${name}${rate} is not supported`);
  }
  switch (info.name) {
    case 'pcmu':
      return new PcmuCodec();
    case 'pcma':
      return new PcmaCodec();
    case 'g722':
      return new G722Codec();
    case 'l16':
      return new L16Codec(info.clockRate);
    case 'opus': {
      const opts: { bitrate?: number; fec?: boolean; sampleRate?: number } = {};
      if (options.bitrate !== undefined) opts.bitrate = options.bitrate;
      if (options.fec !== undefined) opts.fec = options.fec;
      if (options.sampleRate !== undefined) opts.sampleRate = options.sampleRate;
      return new OpusCodec(opts);
    }
    default:
      throw new UnsupportedError('UNSUPPORTED_CODEC', `codec ${name} is not supported`);
  }
}
