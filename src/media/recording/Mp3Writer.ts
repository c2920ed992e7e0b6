import { EncodedFileWriter, type EncodedWriterOptions } from './EncodedFileWriter.ts';
import { checkWriterOptions } from './RecordingWriter.ts';
import { checkMp3Kbps, defaultMp3Kbps } from './Mp3StreamEncoder.ts';

/**
 * MP3 recording (lamejs, CBR): MPEG-1 at 48 kHz, MPEG-2 at 16 kHz, MPEG-2.5 at 8 kHz. Encoded off
 * the media clock by the encoder host (worker pool by default). `bitrate` in bit/s.
 */
export class Mp3Writer extends EncodedFileWriter {
  static async open(o: EncodedWriterOptions): Promise<Mp3Writer> {
    // Refuse a bad rate or bit rate here, before a file or a session exists.
    checkWriterOptions(o);
    checkMp3Kbps(
      o.sampleRate,
      o.bitrate !== undefined ? Math.round(o.bitrate / 1000) : defaultMp3Kbps(o.sampleRate, o.channels),
    );
    return EncodedFileWriter.openAs('mp3', o, (host) => new Mp3Writer('mp3', o, host));
  }
}
