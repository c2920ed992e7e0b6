import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RecordingService } from '../../src/control/services/RecordingService.ts';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { run } from '../helpers/proc.ts';
import { startServer } from '../helpers/server.ts';

/** Real speech (8 kHz mono) from asterisk-core-sounds, 1.8 s. */
export const SPEECH_WAV = '/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav';

/** Decodes any audio file to mono s16 at `rate` with ffmpeg (none of our code in the path). */
export async function decodeWithFfmpeg(file: string, rate = 8000, channels = 1): Promise<Int16Array> {
  const out = `${file}.${rate}.${channels}.s16`;
  const r = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', file, '-ac', String(channels), '-ar', String(rate), '-f', 's16le', out]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

export interface Probe {
  codec: string;
  sampleRate: number;
  channels: number;
  durationS: number;
}

/** ffprobe's view of the first audio stream. */
export async function probe(file: string): Promise<Probe> {
  const r = await run('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,sample_rate,channels:format=duration', '-of', 'json', file]).done;
  assert.equal(r.code, 0, `ffprobe rejected ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; sample_rate: string; channels: number }>; format: { duration: string } };
  const s = j.streams[0]!;
  return { codec: s.codec_name, sampleRate: Number(s.sample_rate), channels: s.channels, durationS: Number(j.format.duration) };
}

/**
 * Where `ref[from, from + length)` best matches inside `x`: the offset in `x` and the normalised
 * cross-correlation there (1 = identical waveform).
 */
export function findSegment(ref: Int16Array, x: Int16Array, from: number, length: number): { offset: number; r: number } {
  let best = { offset: -1, r: -1 };
  let sxx = 0;
  for (let i = 0; i < length; i++) sxx += ref[from + i]! * ref[from + i]!;
  for (let p = 0; p + length <= x.length; p++) {
    let sxy = 0, syy = 0;
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

/** Goertzel power of `freq` in `x` (relative units). */
export function tonePower(x: Int16Array, freq: number, rate: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0, s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s = x[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (x.length * x.length || 1);
}

export function sine(freq: number, ms: number, rate = 8000, amplitude = 8000): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

export function rms(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

/**
 * Sends `pcm` as PCMU RTP, one 20 ms packet per timer tick (a real-time peer). Frames whose index
 * is in `lose` are not sent (packet loss: sequence numbers still advance). Resolves when all sent.
 */
export function streamPcmu(peer: RtpPeer, port: number, pcm: Int16Array, lose: ReadonlySet<number> = new Set()): Promise<void> {
  const frames = Math.floor(pcm.length / 160);
  let i = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    // paced against the absolute timeline (as ffmpeg -re does), so timer drift does not slow it
    const timer = setInterval(() => {
      const due = Math.min(frames, Math.floor((performance.now() - start) / 20) + 1);
      for (; i < due; i++) {
        const payload = new Uint8Array(160);
        for (let k = 0; k < 160; k++) payload[k] = linearToUlaw(pcm[i * 160 + k]!);
        if (lose.has(i)) {
          peer.seq = (peer.seq + 1) & 0xffff;
          peer.ts = (peer.ts + 160) >>> 0;
        } else {
          peer.send(port, payload, 0, { marker: i === 0 });
        }
      }
      if (i >= frames) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

export type T = { after(fn: () => unknown): void };

export async function setup(t: T, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'msc-rec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ RECORDINGS_DIR: dir, ...env });
  t.after(() => server.close());
  const recordings = server.recordings;
  return { dir, server, recordings };
}

export async function peerEndpoint(t: T, server: Awaited<ReturnType<typeof startServer>>, affinity?: string) {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']), ...(affinity ? { affinity } : {}) });
  return { peer, ep };
}

