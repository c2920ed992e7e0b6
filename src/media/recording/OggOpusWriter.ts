import { UnsupportedError } from '../../common/errors.ts';
import { EncodedFileWriter, type EncodedWriterOptions } from './EncodedFileWriter.ts';

/**
 * Ogg Opus recording (RFC 7845) encoded by opusscript at the input rate, 20 ms packets, one Ogg
 * page per `flushMs` so a crash leaves a decodable prefix. Off the media clock like Mp3Writer.
 */
export class OggOpusWriter extends EncodedFileWriter {
  static async open(o: EncodedWriterOptions): Promise<OggOpusWriter> {
    if (o.ifExists === 'append') {
      throw new UnsupportedError('APPEND_UNSUPPORTED', 'append is not supported for Ogg Opus recordings');
    }
    if (o.bitrate !== undefined && (o.bitrate < 6000 || o.bitrate > 510000)) {
      throw new UnsupportedError('UNSUPPORTED_BITRATE', `Opus bit rate ${o.bitrate} (6000..510000)`);
    }
    return EncodedFileWriter.openAs('opus', o, (host) => new OggOpusWriter('opus', o, host));
  }
}
