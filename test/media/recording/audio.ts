/** Helpers for the recording tests: signals, real-peer probes (ffprobe/ffmpeg/sox), correlation. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';

export const run = promisify(execFile);

/** A fresh temporary directory removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'msc-rec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Linear chirp f0 → f1 Hz: unlike a sine, its correlation has a single peak at the true lag. */
export function chirp(sampleRate: number, seconds: number, f0: number, f1: number, amplitude = 10000): Int16Array {
  const n = Math.round(sampleRate * seconds);
  const out = new Int16Array(n);
  const k = (f1 - f0) / seconds;
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    out[i] = Math.round(amplitude * Math.sin(2 * Math.PI * (f0 * t + (k * t * t) / 2)));
  }
  return out;
}

export function sine(sampleRate: number, seconds: number, hz: number, amplitude = 10000): Int16Array {
  const n = Math.round(sampleRate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
}

/** Feed `channels` (planar, equal length) to `write` in 20 ms frames, as the media clock would. */
export function feedFrames(sampleRate: number, channels: Int16Array[], write: (frame: Int16Array[]) => void): void {
  const n = sampleRate / 50;
  const len = channels[0]!.length;
  for (let i = 0; i + n <= len; i += n) write(channels.map((c) => c.subarray(i, i + n)));
}

export interface Probe {
  codec: string;
  sampleRate: number;
  channels: number;
  duration: number;
}

export async function ffprobe(path: string): Promise<Probe> {
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels,duration:format=duration', '-of', 'json', path,
  ]);
  const j = JSON.parse(stdout) as { streams: Array<Record<string, string | number>>; format: { duration?: string } };
  const s = j.streams[0]!;
  return {
    codec: String(s.codec_name),
    sampleRate: Number(s.sample_rate),
    channels: Number(s.channels),
    duration: Number(s.duration ?? j.format.duration),
  };
}

/** Decode any file with ffmpeg to planar Int16 at `rate`. */
export async function decode(path: string, rate: number, channels: number): Promise<Int16Array[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', path, '-f', 's16le', '-ac', String(channels), '-ar', String(rate), '-'], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  const buf = stdout as unknown as Buffer;
  const all = new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length - (buf.length % 2)));
  const per = Math.floor(all.length / channels);
  const out: Int16Array[] = [];
  for (let c = 0; c < channels; c++) {
    const ch = new Int16Array(per);
    for (let i = 0; i < per; i++) ch[i] = all[i * channels + c]!;
    out.push(ch);
  }
  return out;
}

/**
 * Best normalised cross-correlation of `got` against `ref` over lags 0..maxLag (got delayed),
 * over a window in the middle of `ref` (edges excluded: codec ramp-up and padding).
 */
export function bestCorrelation(ref: Int16Array, got: Int16Array, maxLag: number, minLag = 0): { r: number; lag: number } {
  // A window of at most 6000 samples in the middle keeps the search cheap at 48 kHz.
  const mid = ref.length >> 1;
  const half = Math.min(Math.floor(ref.length * 0.4), 3000);
  const start = mid - half;
  const end = mid + half;
  let best = -2;
  let bestLag = 0;
  for (let lag = minLag; lag <= maxLag; lag++) {
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = start; i < end; i++) {
      const j = i + lag;
      if (j < 0 || j >= got.length) continue;
      const x = ref[i]!;
      const y = got[j]!;
      sxy += x * y;
      sxx += x * x;
      syy += y * y;
    }
    const r = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
    if (r > best) {
      best = r;
      bestLag = lag;
    }
  }
  return { r: best, lag: bestLag };
}
