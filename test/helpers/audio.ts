/**
 * Audio helpers for the tests, one copy each: signals (sine, chirp), measures (rms, Goertzel
 * tone power, zero crossings, correlation), WAV and raw PCM files, the real peers' view of a file
 * (ffprobe, ffmpeg decode) and a temporary directory. Tests that call a peer declare it with
 * needs() (./peers.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Runs a program with an argument list (no shell); rejects on a non-zero exit. */
export const execTool = promisify(execFile);

/** Runs sox/ffmpeg synchronously with an argument list (tests build fixtures with the real tools). */
export function tool(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh temporary directory removed after the test (or, given node:test's `{ after }`, the file). */
export function tempDir(t: { after(fn: () => unknown): void }, prefix = 'msc-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// --- signals ---------------------------------------------------------------------------------

export function sine(sampleRate: number, seconds: number, hz: number, amplitude = 10000): Int16Array {
  const n = Math.round(sampleRate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
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

/** Feed `channels` (planar, equal length) to `write` in 20 ms frames, as the media clock would. */
export function feedFrames(sampleRate: number, channels: Int16Array[], write: (frame: Int16Array[]) => void): void {
  const n = sampleRate / 50;
  const len = channels[0]!.length;
  for (let i = 0; i + n <= len; i += n) write(channels.map((c) => c.subarray(i, i + n)));
}

// --- measures --------------------------------------------------------------------------------

export function rms(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

/** Goertzel: the squared magnitude of `freq` in `x[from, to)` and the block's energy. */
function goertzel(
  x: Int16Array,
  freq: number,
  rate: number,
  from: number,
  to: number,
): { power: number; energy: number } {
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = from; i < to; i++) {
    const v = x[i]!;
    energy += v * v;
    const s = v + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return { power: s1 * s1 + s2 * s2 - k * s1 * s2, energy };
}

/** Goertzel power of `freq` in `x` (relative units: divided by the squared length). */
export function tonePower(x: Int16Array, freq: number, rate: number): number {
  return goertzel(x, freq, rate, 0, x.length).power / (x.length * x.length || 1);
}

/** Goertzel amplitude of `freq` in `x` (a pure sine of amplitude A reads A). */
export function toneAmplitude(x: Int16Array, freq: number, rate = 8000): number {
  return (2 * Math.sqrt(Math.max(0, goertzel(x, freq, rate, 0, x.length).power))) / x.length;
}

/** Goertzel power of `freq` in `pcm`, normalised to the signal's total power (0..1). */
export function toneShare(pcm: Int16Array, rate: number, freq: number, from = 0, to = pcm.length): number {
  const { power, energy } = goertzel(pcm, freq, rate, from, to);
  return energy === 0 ? 0 : (2 * power) / ((to - from) * energy);
}

/** Frequency estimated from zero crossings (good for one pure tone). */
export function zeroCrossingHz(pcm: Int16Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) {
    if (pcm[i - 1]! < 0 !== pcm[i]! < 0) crossings++;
  }
  return (crossings / 2) * (rate / pcm.length);
}

/**
 * Best normalised cross-correlation of `got` against `ref` over lags minLag..maxLag (got delayed),
 * over a window in the middle of `ref` (edges excluded: codec ramp-up and padding).
 */
export function bestCorrelation(
  ref: Int16Array,
  got: Int16Array,
  maxLag: number,
  minLag = 0,
): { r: number; lag: number } {
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

/**
 * Where `ref[from, from + length)` best matches inside `x`: the offset in `x` and the normalised
 * cross-correlation there (1 = identical waveform).
 */
export function findSegment(
  ref: Int16Array,
  x: Int16Array,
  from: number,
  length: number,
): { offset: number; r: number } {
  let best = { offset: -1, r: -1 };
  let sxx = 0;
  for (let i = 0; i < length; i++) sxx += ref[from + i]! * ref[from + i]!;
  for (let p = 0; p + length <= x.length; p++) {
    let sxy = 0,
      syy = 0;
    for (let i = 0; i < length; i++) {
      const b = x[p + i]!;
      sxy += ref[from + i]! * b;
      syy += b * b;
    }
    const r = sxy / Math.sqrt(sxx * syy || 1);
    if (r > best.r) best = { offset: p, r };
  }
  return best;
}

/**
 * How well `x` follows `ref`, robust to a few inserted or dropped frames (jitter on a loaded
 * machine): `ref` is cut into 100 ms chunks, each voiced chunk is looked for in `x` near where
 * the previous one was found, and the median of the chunks' correlations is returned.
 */
export function chunkedCorrelation(ref: Int16Array, x: Int16Array, rate = 8000): { median: number; chunks: number } {
  const len = rate / 10;
  const rs: number[] = [];
  let at = -1;
  let prev = 0;
  for (let from = 0; from + len <= ref.length; from += len) {
    if (rms(ref, from, from + len) < 300) continue;
    // where it should be if nothing was inserted or dropped since the last chunk, +- 2 chunks
    const expected = at + (from - prev);
    const lo = at < 0 ? 0 : Math.max(0, expected - 2 * len);
    const hi = at < 0 ? x.length : Math.min(x.length, expected + 3 * len);
    const found = findSegment(ref, x.subarray(lo, hi), from, len);
    if (found.offset >= 0) {
      at = lo + found.offset;
      prev = from;
    }
    rs.push(found.r);
  }
  rs.sort((a, b) => a - b);
  return { median: rs[rs.length >> 1] ?? 0, chunks: rs.length };
}

// --- files -----------------------------------------------------------------------------------

/** Samples of a raw S16LE file. */
export function readRaw(file: string): Int16Array {
  const b = readFileSync(file);
  const out = new Int16Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i);
  return out;
}

/** PCM16 samples of a RIFF/WAVE file (as stored: interleaved when it has several channels). */
export function readWav(file: string): { sampleRate: number; samples: Int16Array } {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error(`${file}: not a WAV file`);
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

/** A mono PCM16 RIFF/WAVE file. */
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

// --- the real peers' view of a file (needs('ffprobe') / needs('ffmpeg')) ----------------------

export interface Probe {
  codec: string;
  sampleRate: number;
  channels: number;
  /** Seconds: the audio stream's duration, else the container's. */
  duration: number;
}

/** ffprobe's view of the first audio stream. */
export async function ffprobe(file: string): Promise<Probe> {
  const { stdout } = await execTool('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'a:0',
    '-show_entries',
    'stream=codec_name,sample_rate,channels,duration:format=duration',
    '-of',
    'json',
    file,
  ]);
  const j = JSON.parse(stdout) as { streams: Array<Record<string, string | number>>; format: { duration?: string } };
  const s = j.streams[0];
  if (s === undefined) throw new Error(`ffprobe found no audio stream in ${file}`);
  return {
    codec: String(s.codec_name),
    sampleRate: Number(s.sample_rate),
    channels: Number(s.channels),
    duration: Number(s.duration ?? j.format.duration),
  };
}

/** Any audio file decoded by ffmpeg (none of our code in the path) to interleaved S16 at `rate`. */
export async function decodeWithFfmpeg(file: string, rate = 8000, channels = 1): Promise<Int16Array> {
  const { stdout } = await execTool(
    'ffmpeg',
    ['-v', 'error', '-i', file, '-f', 's16le', '-ac', String(channels), '-ar', String(rate), '-'],
    {
      encoding: 'buffer',
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  return new Int16Array(
    stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.length - (stdout.length % 2)),
  );
}

/** decodeWithFfmpeg(), one array per channel. */
export async function decodePlanar(file: string, rate: number, channels: number): Promise<Int16Array[]> {
  const all = await decodeWithFfmpeg(file, rate, channels);
  const per = Math.floor(all.length / channels);
  const out: Int16Array[] = [];
  for (let c = 0; c < channels; c++) {
    const ch = new Int16Array(per);
    for (let i = 0; i < per; i++) ch[i] = all[i * channels + c]!;
    out.push(ch);
  }
  return out;
}
