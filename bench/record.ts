/**
 * Recording cost at 8 kHz mono: CPU per second of audio for WAV, MP3 and Ogg Opus, the
 * recordings per core that implies, and the ratio to a baseline of copying the same PCM frames
 * into a buffer, all measured in this run.
 *
 *   node --import tsx bench/record.ts            (BENCH_SECONDS=60 by default)
 *
 * "encode" rows time the encoder alone, synchronously, on this thread: that is the CPU an encoder
 * thread spends. "writer" rows drive the real writers the way the media clock does (20 ms frames,
 * with a flush each simulated second) and count process CPU, all threads included (fs threadpool,
 * encoder worker); "clock µs/frame" is the time spent inside write() on the calling thread, the
 * only part the media clock pays per frame; "media-thread ms/s" is this thread's event-loop active
 * time (write(), chunk messages, and for 'inline' the encoding slices too).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncoderPool } from '../src/media/recording/EncoderPool.ts';
import { Mp3StreamEncoder } from '../src/media/recording/Mp3StreamEncoder.ts';
import { Mp3Writer } from '../src/media/recording/Mp3Writer.ts';
import { OggOpusEncoder } from '../src/media/recording/OggOpusEncoder.ts';
import { OggOpusWriter } from '../src/media/recording/OggOpusWriter.ts';
import type { RecordingWriter } from '../src/media/recording/RecordingWriter.ts';
import { WavFileWriter } from '../src/media/recording/WavFileWriter.ts';

const RATE = 8000;
const FRAME = RATE / 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);

/** Real speech looped (falls back to a sweep when the Asterisk prompts are not installed). */
async function source(): Promise<Int16Array> {
  const out = new Int16Array(RATE * SECONDS);
  let speech: Int16Array;
  try {
    const b = await readFile('/usr/share/asterisk/sounds/en/vm-intro.wav');
    speech = new Int16Array(b.buffer.slice(b.byteOffset + 44, b.byteOffset + b.length - ((b.length - 44) % 2)));
  } catch {
    speech = new Int16Array(RATE * 2);
    for (let i = 0; i < speech.length; i++)
      speech[i] = Math.round(8000 * Math.sin((2 * Math.PI * (200 * i + (i * i) / 20)) / RATE));
  }
  for (let i = 0; i < out.length; i++) out[i] = speech[i % speech.length]!;
  return out;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Row {
  name: string;
  cpuMs: number;
  clockUsPerFrame?: number;
  /** Event-loop active time of this (the media) thread: write(), message handling, inline encoding. */
  threadMs?: number;
  note?: string;
}

/** Copy 20 ms frames into a preallocated 1 s buffer: the floor any recorder pays. */
function baseline(pcm: Int16Array): Row {
  const buf = new Int16Array(RATE);
  let at = 0;
  const c0 = cpuMs();
  for (let rep = 0; rep < 20; rep++) {
    for (let i = 0; i + FRAME <= pcm.length; i += FRAME) {
      for (let k = 0; k < FRAME; k++) buf[at + k] = pcm[i + k]!;
      at += FRAME;
      if (at === buf.length) at = 0;
    }
  }
  // 20 repetitions so the number is well above timer resolution.
  return { name: 'baseline copy', cpuMs: (cpuMs() - c0) / 20 };
}

function encodeOnly(
  name: string,
  pcm: Int16Array,
  make: () => { encode(p: Int16Array, o: number, l: number, out: Uint8Array[]): void; finish(out: Uint8Array[]): void },
): Row {
  // Warm the JIT on a few seconds first, as a long-running server would be.
  const warm = make();
  const sink: Uint8Array[] = [];
  for (let i = 0; i + FRAME <= Math.min(pcm.length, RATE * 5); i += FRAME) warm.encode(pcm, i, FRAME, sink);
  const e = make();
  const out: Uint8Array[] = [];
  const c0 = cpuMs();
  for (let i = 0; i + FRAME <= pcm.length; i += FRAME) {
    e.encode(pcm, i, FRAME, out);
    if (out.length > 64) out.length = 0;
  }
  e.finish(out);
  return { name, cpuMs: cpuMs() - c0 };
}

async function writer(
  name: string,
  pcm: Int16Array,
  open: () => Promise<RecordingWriter & { flush(): Promise<void> }>,
): Promise<Row> {
  const w = await open();
  const frames: Int16Array[] = [];
  for (let i = 0; i + FRAME <= pcm.length; i += FRAME) frames.push(pcm.subarray(i, i + FRAME));
  const planar: Int16Array[] = [frames[0]!];
  let clockMs = 0;
  const elu0 = performance.eventLoopUtilization();
  const c0 = cpuMs();
  for (let f = 0; f < frames.length; f++) {
    planar[0] = frames[f]!;
    const t = performance.now();
    w.write(planar);
    clockMs += performance.now() - t;
    if (f % 50 === 49) await w.flush(); // one simulated second; lets I/O and the encoder keep up
  }
  const r = await w.close();
  const cpu = cpuMs() - c0;
  const threadMs = performance.eventLoopUtilization(elu0).active;
  const row: Row = { name, cpuMs: cpu, clockUsPerFrame: (clockMs * 1000) / frames.length, threadMs };
  if (r.droppedFrames > 0) row.note = `${r.droppedFrames} frames dropped`;
  return row;
}

async function main(): Promise<void> {
  const pcm = await source();
  const dir = await mkdtemp(join(tmpdir(), 'bench-record-'));
  const pool = new EncoderPool({ threads: 1 });
  try {
    const base = baseline(pcm);
    const rows: Row[] = [base];
    rows.push(encodeOnly('mp3 encode (16 kbit/s)', pcm, () => new Mp3StreamEncoder({ sampleRate: RATE, channels: 1 })));
    rows.push(
      encodeOnly('opus encode (16 kbit/s)', pcm, () => {
        const e = new OggOpusEncoder({ sampleRate: RATE, channels: 1 });
        e.headers([]);
        return e;
      }),
    );
    let n = 0;
    const path = (ext: string): string => join(dir, `r${n++}.${ext}`);
    rows.push(
      await writer('wav writer', pcm, () => WavFileWriter.open({ path: path('wav'), sampleRate: RATE, channels: 1 })),
    );
    // Warm the pool thread (start-up and JIT), then measure.
    await writer('warm', pcm.subarray(0, RATE * 5), () =>
      Mp3Writer.open({ path: path('mp3'), sampleRate: RATE, channels: 1, encoder: pool }),
    );
    await writer('warm', pcm.subarray(0, RATE * 5), () =>
      OggOpusWriter.open({ path: path('opus'), sampleRate: RATE, channels: 1, encoder: pool }),
    );
    rows.push(
      await writer('mp3 writer (thread)', pcm, () =>
        Mp3Writer.open({ path: path('mp3'), sampleRate: RATE, channels: 1, encoder: pool }),
      ),
    );
    rows.push(
      await writer('opus writer (thread)', pcm, () =>
        OggOpusWriter.open({ path: path('opus'), sampleRate: RATE, channels: 1, encoder: pool }),
      ),
    );
    rows.push(
      await writer('mp3 writer (inline)', pcm, () =>
        Mp3Writer.open({ path: path('mp3'), sampleRate: RATE, channels: 1, encoder: 'inline' }),
      ),
    );
    rows.push(
      await writer('opus writer (inline)', pcm, () =>
        OggOpusWriter.open({ path: path('opus'), sampleRate: RATE, channels: 1, encoder: 'inline' }),
      ),
    );

    const lines = [
      `recording cost, ${RATE} Hz mono, ${SECONDS} s of speech per run, node ${process.version}`,
      'name                       CPU ms/s audio   ×baseline   recordings/core   clock µs/frame   media-thread ms/s',
    ];
    for (const r of rows) {
      const perSec = r.cpuMs / SECONDS;
      const perCore = perSec > 0 ? Math.floor(1000 / perSec) : Infinity;
      lines.push(
        `${r.name.padEnd(26)} ${perSec.toFixed(3).padStart(14)} ${(r.cpuMs / base.cpuMs).toFixed(1).padStart(11)} ${String(perCore).padStart(17)} ${
          r.clockUsPerFrame !== undefined ? r.clockUsPerFrame.toFixed(2).padStart(16) : '               -'
        }${r.threadMs !== undefined ? (r.threadMs / SECONDS).toFixed(3).padStart(20) : '                   -'}${r.note !== undefined ? `  (${r.note})` : ''}`,
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
