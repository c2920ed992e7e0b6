/**
 * RIFF WAVE PCM16 headers (RFC 2361 registers WAVE_FORMAT_PCM = 0x0001; layout from the Microsoft
 * RIFF/Multimedia Programming Interface spec):
 *
 *   0 'RIFF' | 4 riff size = file size - 8 | 8 'WAVE'
 *  12 'fmt ' | 16 16 | 20 format 1 | 22 channels | 24 rate | 28 byte rate | 32 block align | 34 bits 16
 *  36 'data' | 40 data size | 44 samples ...
 */
import { ValidationError } from '../../common/errors.ts';

export const WAV_HEADER_BYTES = 44;
export const WAVE_FORMAT_PCM = 0x0001;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** RIFF sizes are 32-bit: the data chunk may grow to this before the file is full. */
export const WAV_MAX_DATA_BYTES = 0xffffffff - 36;

/** Write the canonical 44-byte header into `out` (at least 44 bytes). */
export function writeWavHeader(out: Uint8Array, sampleRate: number, channels: number, dataBytes: number): void {
  const v = new DataView(out.buffer, out.byteOffset, WAV_HEADER_BYTES);
  v.setUint32(0, 0x52494646, false); // 'RIFF'
  v.setUint32(4, 36 + dataBytes, true);
  v.setUint32(8, 0x57415645, false); // 'WAVE'
  v.setUint32(12, 0x666d7420, false); // 'fmt '
  v.setUint32(16, 16, true);
  v.setUint16(20, WAVE_FORMAT_PCM, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * channels * 2, true);
  v.setUint16(32, channels * 2, true);
  v.setUint16(34, 16, true);
  v.setUint32(36, 0x64617461, false); // 'data'
  v.setUint32(40, dataBytes, true);
}

export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Offset of the first sample byte. */
  dataOffset: number;
  /** Offset of the data chunk's 32-bit size field (dataOffset - 4). */
  dataSizeOffset: number;
  /** Data size the header declares (may be short of the file after a crash). */
  declaredDataBytes: number;
}

function fourcc(v: DataView, at: number): string {
  return String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
}

/**
 * Parse the chunks of a WAV file up to the start of its data chunk. `head` holds the first bytes
 * of the file (4 KiB is plenty for fmt + LIST + data headers). Throws ValidationError naming what
 * is wrong; does not judge compatibility (the caller compares rate/channels).
 */
export function parseWavHeader(head: Uint8Array): WavInfo {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.byteLength < 12 || fourcc(v, 0) !== 'RIFF' || fourcc(v, 8) !== 'WAVE') {
    throw new ValidationError('WAV_INVALID', 'not a RIFF WAVE file');
  }
  let at = 12;
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataSizeOffset' | 'declaredDataBytes'> | null = null;
  while (at + 8 <= head.byteLength) {
    const id = fourcc(v, at);
    const size = v.getUint32(at + 4, true);
    if (id === 'fmt ') {
      if (size < 16 || at + 8 + 16 > head.byteLength) throw new ValidationError('WAV_INVALID', 'short fmt chunk');
      let format = v.getUint16(at + 8, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first 2 bytes of the SubFormat GUID.
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40 && at + 8 + 26 <= head.byteLength) {
        format = v.getUint16(at + 8 + 24, true);
      }
      fmt = {
        format,
        channels: v.getUint16(at + 10, true),
        sampleRate: v.getUint32(at + 12, true),
        bitsPerSample: v.getUint16(at + 22, true),
      };
    } else if (id === 'data') {
      if (fmt === null) throw new ValidationError('WAV_INVALID', 'data chunk before fmt chunk');
      return { ...fmt, dataOffset: at + 8, dataSizeOffset: at + 4, declaredDataBytes: size };
    }
    // Chunks are padded to even sizes (RIFF spec).
    at += 8 + size + (size & 1);
  }
  throw new ValidationError('WAV_INVALID', 'no data chunk in the first bytes of the file');
}
