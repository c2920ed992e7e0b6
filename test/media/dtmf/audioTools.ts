/**
 * Test-side helpers for the DTMF tests: tones made by sox (a real, independent generator) and RTP
 * header decoding for captured telephone-event packets.
 */
import { join } from 'node:path';
import { execTool as run, readRaw } from '../../helpers/audio.ts';

export interface SoxTone {
  lowHz: number;
  highHz: number;
  /** Level of each tone in dBm0 (full-scale sine = +3.17 dBm0, G.711). */
  lowDbm0: number;
  highDbm0: number;
  durationMs: number;
  /** Silence before and after the tone. */
  leadMs?: number;
  trailMs?: number;
}

/**
 * Two sines mixed by sox at the given levels: the null input has two channels, synth puts one
 * full-scale sine in each, remix adds them with linear gains into one channel.
 */
export async function soxTone(dir: string, name: string, t: SoxTone): Promise<Int16Array> {
  const file = join(dir, `${name}.raw`);
  const gain = (dbm0: number): string => Math.pow(10, (dbm0 - 3.17) / 20).toFixed(6);
  await run('sox', [
    '-D',
    '-c',
    '2',
    '-r',
    '8000',
    '-n',
    '-t',
    'raw',
    '-b',
    '16',
    '-c',
    '1',
    '-e',
    'signed-integer',
    file,
    'synth',
    (t.durationMs / 1000).toFixed(4),
    'sine',
    String(t.lowHz),
    'sine',
    String(t.highHz),
    'remix',
    `1v${gain(t.lowDbm0)},2v${gain(t.highDbm0)}`,
    'pad',
    ((t.leadMs ?? 20) / 1000).toFixed(4),
    ((t.trailMs ?? 100) / 1000).toFixed(4),
  ]);
  return readRaw(file);
}

/** Run sox with arbitrary arguments producing a raw 8 kHz mono S16 file; returns its samples. */
export async function soxRaw(dir: string, name: string, before: string[], after: string[]): Promise<Int16Array> {
  const file = join(dir, `${name}.raw`);
  await run('sox', [
    '-D',
    ...before,
    '-t',
    'raw',
    '-r',
    '8000',
    '-b',
    '16',
    '-c',
    '1',
    '-e',
    'signed-integer',
    file,
    ...after,
  ]);
  return readRaw(file);
}

/** The fixed RTP header fields (RFC 3550 5.1) and the payload, skipping CSRCs and extension. */
export interface RtpFields {
  payloadType: number;
  marker: boolean;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

export function decodeRtp(b: Buffer): RtpFields | undefined {
  if (b.length < 12 || b[0]! >> 6 !== 2) return undefined;
  const cc = b[0]! & 0x0f;
  let off = 12 + cc * 4;
  if ((b[0]! & 0x10) !== 0) {
    if (off + 4 > b.length) return undefined;
    off += 4 + b.readUInt16BE(off + 2) * 4;
  }
  let end = b.length;
  if ((b[0]! & 0x20) !== 0) end -= b[b.length - 1]!;
  if (off > end) return undefined;
  return {
    payloadType: b[1]! & 0x7f,
    marker: (b[1]! & 0x80) !== 0,
    seq: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
    payload: b.subarray(off, end),
  };
}
