/**
 * In-band DTMF detector throughput: samples analysed per second against real time, on real speech
 * (the Asterisk prompts, the talk-off case: mostly cheap early exits), on silence, each also with the
 * exact pre-filters off (the full analysis of every window, for the ratio), and on continuous DTMF tones
 * (every window runs the full Hann measurement), at 8 kHz and with 48 kHz input (decimation).
 * Fed in 20 ms frames as the media clock does. Prints the ratio to real time, i.e. how many
 * channels one core could watch. Not a timed test.
 *
 *   node --import tsx bench/dtmf-detect.ts [seconds of audio per case = 120]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { DtmfDetector } from '../src/media/dtmf/DtmfDetector.ts';
import { DtmfGenerator } from '../src/media/dtmf/DtmfGenerator.ts';

const SECONDS = Number(process.argv[2] ?? 120);
const SPEECH = '/usr/share/asterisk/sounds/en';

function wavSamples(file: string): Int16Array {
  const b = readFileSync(file);
  let off = 12;
  while (off + 8 <= b.length) {
    const len = b.readUInt32LE(off + 4);
    if (b.toString('ascii', off, off + 4) === 'data') {
      const n = Math.min(len, b.length - off - 8) >> 1;
      return new Int16Array(b.buffer.slice(b.byteOffset + off + 8, b.byteOffset + off + 8 + 2 * n));
    }
    off += 8 + len + (len & 1);
  }
  return new Int16Array(0);
}

/** `seconds` of audio at `rate` built by repeating `source`. */
function loop(source: Int16Array, rate: number, seconds: number): Int16Array {
  const out = new Int16Array(rate * seconds);
  for (let i = 0; i < out.length; i += source.length)
    out.set(source.subarray(0, Math.min(source.length, out.length - i)), i);
  return out;
}

function measure(name: string, audio: Int16Array, rate: number, prefilter = true): void {
  const frame = rate / 50;
  let digits = 0;
  const det = new DtmfDetector({ sampleRate: rate, prefilter, onDigit: () => digits++ });
  // Warm-up pass so the JIT has compiled the hot loops.
  for (let i = 0; i + frame <= Math.min(audio.length, rate * 5); i += frame) det.process(audio.subarray(i, i + frame));
  // Frames cut beforehand (no view made inside the timed loop); the best of three passes, so a
  // case's figure does not depend on where it comes in the run (JIT, other work on the machine).
  const frames: Int16Array[] = [];
  for (let i = 0; i + frame <= audio.length; i += frame) frames.push(audio.subarray(i, i + frame));
  let seconds = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    det.reset();
    digits = 0;
    const t0 = process.hrtime.bigint();
    for (const f of frames) det.process(f);
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const audioSeconds = audio.length / rate;
  const sps = audio.length / seconds;
  console.log(
    `${name.padEnd(34)} ${audioSeconds.toFixed(0).padStart(5)} s audio  ${(seconds * 1000).toFixed(0).padStart(6)} ms  ` +
      `${(sps / 1e6).toFixed(2).padStart(6)} Msamples/s  ${(audioSeconds / seconds).toFixed(0).padStart(6)}x real time  (${digits} digits)`,
  );
}

const files = readdirSync(SPEECH)
  .filter((f) => f.endsWith('.wav'))
  .sort();
const speechParts = files.map((f) => wavSamples(`${SPEECH}/${f}`));
const speech = new Int16Array(speechParts.reduce((n, p) => n + p.length, 0));
let at = 0;
for (const p of speechParts) {
  speech.set(p, at);
  at += p.length;
}

console.log(`DtmfDetector throughput (node ${process.version}), 20 ms frames`);
measure('speech 8 kHz (talk-off path)', loop(speech, 8000, SECONDS), 8000);
measure('speech 8 kHz, pre-filters off', loop(speech, 8000, SECONDS), 8000, false);
measure('silence 8 kHz', new Int16Array(8000 * SECONDS), 8000);
measure('silence 8 kHz, pre-filters off', new Int16Array(8000 * SECONDS), 8000, false);
measure(
  'DTMF tones 8 kHz (full path)',
  loop(DtmfGenerator.toneFor('0123456789*#ABCD', { durationMs: 200, pauseMs: 0 }), 8000, SECONDS),
  8000,
);
const tones48 = DtmfGenerator.toneFor('0123456789*#ABCD', { sampleRate: 48000, durationMs: 100, pauseMs: 100 });
measure('DTMF digits 48 kHz (decimated)', loop(tones48, 48000, Math.max(1, Math.round(SECONDS / 6))), 48000);
