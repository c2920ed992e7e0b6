/**
 * Test-side helpers for the DTMF tests: tones made by sox (a real, independent generator), WAV
 * reading and writing, and RTP header decoding for captured telephone-event packets.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A scratch directory removed by the returned cleanup. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

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
    '-D', '-c', '2', '-r', '8000', '-n',
    '-t', 'raw', '-b', '16', '-c', '1', '-e', 'signed-integer', file,
    'synth', (t.durationMs / 1000).toFixed(4), 'sine', String(t.lowHz), 'sine', String(t.highHz),
    'remix', `1v${gain(t.lowDbm0)},2v${gain(t.highDbm0)}`,
    'pad', ((t.leadMs ?? 20) / 1000).toFixed(4), ((t.trailMs ?? 100) / 1000).toFixed(4),
  ]);
  return readRaw(file);
}

/** Run sox with arbitrary arguments producing a raw 8 kHz mono S16 file; returns its samples. */
export async function soxRaw(dir: string, name: string, before: string[], after: string[]): Promise<Int16Array> {
  const file = join(dir, `${name}.raw`);
  await run('sox', ['-D', ...before, '-t', 'raw', '-r', '8000', '-b', '16', '-c', '1', '-e', 'signed-integer', file, ...after]);
  return readRaw(file);
}

export function readRaw(file: string): Int16Array {
  const b = readFileSync(file);
  const out = new Int16Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i);
  return out;
}

/** PCM16 samples of a RIFF/WAVE file (first channel layout as stored; tests use mono). */
export function readWav(file: string): { sampleRate: number; samples: Int16Array } {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV file`);
  let sampleRate = 0;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') sampleRate = b.readUInt32LE(off + 12);
    if (id === 'data') {
      const n = Math.min(len, b.length - off - 8) >> 1;
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(off + 8 + 2 * i);
      return { sampleRate, samples };
    }
    off += 8 + len + (len & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

export function writeWav(file: string, samples: Int16Array, sampleRate: number): void {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + samples.length * 2, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(samples.length * 2, 40);
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(samples[i]!, 2 * i);
  writeFileSync(file, Buffer.concat([h, data]));
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
