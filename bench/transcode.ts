/**
 * Transcoding cost per 20 ms frame, each direction = decode + resample + encode, for the codec
 * pairs a bridge between a PCMU leg and another leg needs. Prints µs per frame, "calls per core"
 * (one call = 2 directions x 50 frames/s) and the ratio to a plain G.711 table-lookup transcode
 * (PCMU -> PCMA through ulawToAlawTable) measured in the same run.
 *
 *   node --import tsx bench/transcode.ts [seconds-per-case]
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Codec } from '../src/media/codecs/Codec.ts';
import { PcmaCodec, PcmuCodec, transcodeAlawToUlaw, transcodeUlawToAlaw } from '../src/media/codecs/g711.ts';
import { G722Codec } from '../src/media/codecs/g722.ts';
import { OpusCodec } from '../src/media/codecs/opus.ts';
import { Resampler, resample } from '../src/media/dsp/Resampler.ts';

const SECONDS = Number(process.argv[2] ?? 1);
const SPEECH = '/usr/share/asterisk/sounds/en/demo-congrats.wav';

/** 8 kHz source audio: real speech if installed (16-bit PCM WAV), else a tone mix with noise. */
function source8k(): Int16Array {
  if (existsSync(SPEECH)) {
    const b = readFileSync(SPEECH);
    let pos = 12;
    while (pos + 8 <= b.length) {
      const id = b.toString('latin1', pos, pos + 4);
      const size = b.readUInt32LE(pos + 4);
      if (id === 'data') {
        const n = Math.min(size, b.length - pos - 8) >> 1;
        const pcm = new Int16Array(n);
        for (let i = 0; i < n; i++) pcm[i] = b.readInt16LE(pos + 8 + 2 * i);
        return pcm.subarray(0, n - (n % 160));
      }
      pos += 8 + size + (size & 1);
    }
  }
  const n = 8000 * 10;
  const pcm = new Int16Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    pcm[i] = Math.round(6000 * Math.sin(i * 0.3) + 3000 * Math.sin(i * 1.1) + ((seed >> 16) - 16384) / 8);
  }
  return pcm;
}

/** One direction of a transcoding leg: decode -> (resample) -> encode, all buffers preallocated. */
class Leg {
  readonly #from: Codec;
  readonly #to: Codec;
  readonly #rs: Resampler | undefined;
  readonly #pcmIn = new Int16Array(5760);
  readonly #pcmOut = new Int16Array(5760);
  readonly #out = new Uint8Array(4000);

  constructor(from: Codec, to: Codec) {
    this.#from = from;
    this.#to = to;
    this.#rs = from.sampleRate === to.sampleRate ? undefined : new Resampler(from.sampleRate, to.sampleRate);
  }

  frame(payload: Uint8Array): number {
    const n = this.#from.decode(payload, this.#pcmIn);
    if (!this.#rs) return this.#to.encode(this.#pcmIn.subarray(0, n), this.#out);
    const m = this.#rs.process(this.#pcmIn.subarray(0, n), this.#pcmOut);
    return this.#to.encode(this.#pcmOut.subarray(0, m), this.#out);
  }
}

/** Encodes the source into 20 ms payloads of `codec` (setup, not timed). */
function payloads(codec: Codec, src8k: Int16Array): Uint8Array[] {
  const pcm = resample(src8k, 8000, codec.sampleRate);
  const frame = codec.sampleRate / 50;
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(4000);
  for (let off = 0; off + frame <= pcm.length; off += frame) {
    const n = codec.encode(pcm.subarray(off, off + frame), buf);
    out.push(buf.slice(0, n));
  }
  return out;
}

/** CPU µs per frame of `fn` over the payload list, repeated for about SECONDS. */
function measure(list: Uint8Array[], fn: (p: Uint8Array) => number): number {
  let sink = 0;
  for (let i = 0; i < Math.min(list.length, 200); i++) sink += fn(list[i]!); // warm up the JIT
  let frames = 0;
  const start = process.cpuUsage();
  const wall = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  while (process.hrtime.bigint() - wall < budget) {
    for (let i = 0; i < list.length; i++) sink += fn(list[i]!);
    frames += list.length;
  }
  const used = process.cpuUsage(start);
  if (sink === -1) process.stdout.write('');
  return (used.user + used.system) / frames;
}

const src = source8k();
const pcmuList = payloads(new PcmuCodec(), src);
const results: Array<{ name: string; ab: number; ba: number }> = [];

// Baseline: PCMU <-> PCMA through the direct 256-entry tables.
{
  const pcmaList = payloads(new PcmaCodec(), src);
  const out = new Uint8Array(160);
  const ab = measure(pcmuList, (p) => transcodeUlawToAlaw(p, out));
  const ba = measure(pcmaList, (p) => transcodeAlawToUlaw(p, out));
  results.push({ name: 'PCMU<->PCMA table (baseline)', ab, ba });
}
{
  const pcmaList = payloads(new PcmaCodec(), src);
  const ab = new Leg(new PcmuCodec(), new PcmaCodec());
  const ba = new Leg(new PcmaCodec(), new PcmuCodec());
  results.push({
    name: 'PCMU<->PCMA via linear',
    ab: measure(pcmuList, (p) => ab.frame(p)),
    ba: measure(pcmaList, (p) => ba.frame(p)),
  });
}
{
  const g722List = payloads(new G722Codec(), src);
  const ab = new Leg(new PcmuCodec(), new G722Codec());
  const ba = new Leg(new G722Codec(), new PcmuCodec());
  results.push({
    name: 'PCMU<->G.722 (8k<->16k)',
    ab: measure(pcmuList, (p) => ab.frame(p)),
    ba: measure(g722List, (p) => ba.frame(p)),
  });
}
for (const rate of [48000, 8000]) {
  const enc = new OpusCodec({ sampleRate: rate, bitrate: 24000 });
  const dec = new OpusCodec({ sampleRate: rate });
  const opusList = payloads(new OpusCodec({ sampleRate: rate, bitrate: 24000 }), src);
  const ab = new Leg(new PcmuCodec(), enc);
  const ba = new Leg(dec, new PcmuCodec());
  results.push({
    name: rate === 48000 ? 'PCMU<->Opus (48k PCM, resampler)' : 'PCMU<->Opus (8k PCM in libopus)',
    ab: measure(pcmuList, (p) => ab.frame(p)),
    ba: measure(opusList, (p) => ba.frame(p)),
  });
}
// Component costs, for reading the totals.
const parts: Array<[string, number]> = [];
{
  const frame8 = src.subarray(0, 160);
  const r = new Resampler(8000, 48000);
  const o = new Int16Array(960);
  parts.push(['resample 8k->48k', measure(pcmuList, () => r.process(frame8, o))]);
  const f48 = new Int16Array(960).map((_, i) => frame8[Math.floor(i / 6)]!);
  const d = new Resampler(48000, 8000);
  parts.push(['resample 48k->8k', measure(pcmuList, () => d.process(f48, o))]);
  const opus = new OpusCodec({ bitrate: 24000 });
  const pkt = new Uint8Array(1500);
  parts.push(['opus encode 48k', measure(pcmuList, () => opus.encode(f48, pkt))]);
  const n = opus.encode(f48, pkt);
  const one = pkt.slice(0, n);
  parts.push(['opus decode 48k', measure(pcmuList, () => opus.decode(one, o))]);
  const g = new G722Codec();
  const f16 = new Int16Array(320).map((_, i) => frame8[i >> 1]!);
  parts.push(['g722 encode', measure(pcmuList, () => g.encode(f16, pkt))]);
  const gb = pkt.slice(0, 160);
  parts.push(['g722 decode', measure(pcmuList, () => g.decode(gb, o))]);
}

const base = results[0]!;
const baseCall = (base.ab + base.ba) * 50;
const lines: string[] = [];
lines.push(
  `transcode bench: ${process.version}, ${SECONDS} s per case, source ${existsSync(SPEECH) ? 'speech' : 'synthetic'}`,
);
lines.push('pair                                 A->B µs/frame  B->A µs/frame  calls/core   x baseline');
for (const r of results) {
  const perCall = (r.ab + r.ba) * 50; // µs of CPU per second of call
  lines.push(
    `${r.name.padEnd(36)} ${r.ab.toFixed(2).padStart(13)}  ${r.ba.toFixed(2).padStart(13)}  ${Math.floor(1e6 / perCall)
      .toString()
      .padStart(10)}  ${(perCall / baseCall).toFixed(1).padStart(10)}`,
  );
}
lines.push('components (µs per 20 ms frame):');
for (const [name, us] of parts) lines.push(`  ${name.padEnd(20)} ${us.toFixed(2)}`);
process.stdout.write(lines.join('\n') + '\n');
