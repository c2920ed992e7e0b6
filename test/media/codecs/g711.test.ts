import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  linearToUlaw,
  ulawToLinear,
  linearToAlaw,
  alawToLinear,
  ulawToAlawTable,
  alawToUlawTable,
  PcmuCodec,
  PcmaCodec,
  transcodeUlawToAlaw,
} from '../../../src/media/codecs/g711.ts';
import { needs } from '../../helpers/peers.ts';

// An independent port of the G.191 rules written as a segment search over end-point tables
// (the style of the classic g711.c), with G.191's one's-complement folding of negatives.
const SEG_AEND = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const SEG_UEND = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
function search(v: number, table: number[]): number {
  for (let i = 0; i < table.length; i++) if (v <= table[i]!) return i;
  return table.length;
}
function refAlaw(x: number): number {
  const mag = (x < 0 ? ~x : x) >> 3; // 13-bit magnitude
  const mask = x >= 0 ? 0xd5 : 0x55;
  const seg = search(mag, SEG_AEND);
  if (seg >= 8) return 0x7f ^ mask;
  const aval = (seg << 4) | ((seg < 2 ? mag >> 1 : mag >> seg) & 0x0f);
  return aval ^ mask;
}
function refUlaw(x: number): number {
  let mag = ((x < 0 ? ~x : x) >> 2) + 33;
  if (mag > 0x1fff) mag = 0x1fff;
  const mask = x >= 0 ? 0xff : 0x7f;
  const seg = search(mag, SEG_UEND);
  return (((seg << 4) | ((mag >> (seg + 1)) & 0x0f)) ^ mask) & 0xff;
}
function refAlawExpand(c: number): number {
  const a = c ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}
function refUlawExpand(c: number): number {
  const u = ~c & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

const ALL = new Int16Array(65536);
for (let i = 0; i < 65536; i++) ALL[i] = i - 32768;
const CODES = new Uint8Array(256);
for (let c = 0; c < 256; c++) CODES[c] = c;

function ffmpeg(args: string[], input: Uint8Array): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', ...args], { input, maxBuffer: 1 << 22 });
}

test('linearToUlaw()/linearToAlaw() match the G.191 reference for all 65536 inputs', () => {
  let bad = 0;
  for (let i = 0; i < 65536; i++) {
    const s = ALL[i]!;
    if (linearToUlaw(s) !== refUlaw(s)) bad++;
    if (linearToAlaw(s) !== refAlaw(s)) bad++;
  }
  assert.equal(bad, 0);
  // Spot values from G.711 tables: zero, full scale and the sign-bit convention.
  assert.equal(linearToUlaw(0), 0xff);
  assert.equal(linearToUlaw(-1), 0x7f);
  assert.equal(linearToUlaw(32767), 0x80);
  assert.equal(linearToUlaw(-32768), 0x00);
  assert.equal(linearToAlaw(0), 0xd5);
  assert.equal(linearToAlaw(-1), 0x55);
  assert.equal(linearToAlaw(32767), 0xaa);
  assert.equal(linearToAlaw(-32768), 0x2a);
});

test('ulawToLinear()/alawToLinear() match the reference for all 256 codes', () => {
  for (let c = 0; c < 256; c++) {
    assert.equal(ulawToLinear(c), refUlawExpand(c), `ulaw ${c}`);
    assert.equal(alawToLinear(c), refAlawExpand(c), `alaw ${c}`);
  }
  assert.equal(ulawToLinear(0x00), -32124);
  assert.equal(alawToLinear(0xaa), 32256);
});

test('G.711 decode is bit-exact with ffmpeg for all 256 codes', needs('ffmpeg'), () => {
  for (const [fmt, dec] of [
    ['mulaw', ulawToLinear],
    ['alaw', alawToLinear],
  ] as const) {
    const out = ffmpeg(['-f', fmt, '-ar', '8000', '-ac', '1', '-i', '-', '-f', 's16le', '-'], CODES);
    assert.equal(out.length, 512);
    for (let c = 0; c < 256; c++) assert.equal(out.readInt16LE(2 * c), dec(c), `${fmt} code ${c}`);
  }
});

test(
  'G.711 encode agrees with ffmpeg except where ffmpeg rounds to the nearest level at a threshold',
  needs('ffmpeg'),
  () => {
    // FFmpeg builds its encode table from midpoints between reconstruction levels; G.711 places
    // decision values at segment end points and G.191 folds negatives by one's complement. So both
    // may differ only by one step, only near a decision value, and ffmpeg's pick is the nearer level.
    const input = new Uint8Array(ALL.buffer);
    for (const [fmt, enc, dec] of [
      ['mulaw', linearToUlaw, ulawToLinear],
      ['alaw', linearToAlaw, alawToLinear],
    ] as const) {
      const out = ffmpeg(['-f', 's16le', '-ar', '8000', '-ac', '1', '-i', '-', '-f', fmt, '-'], input);
      assert.equal(out.length, 65536);
      let diffs = 0;
      for (let i = 0; i < 65536; i++) {
        const s = ALL[i]!;
        const ours = enc(s);
        const theirs = out[i]!;
        if (ours === theirs) continue;
        diffs++;
        const lo = dec(ours);
        const lf = dec(theirs);
        // Adjacent levels: no reconstruction level lies strictly between them.
        const a = Math.min(lo, lf);
        const b = Math.max(lo, lf);
        for (let c = 0; c < 256; c++) {
          const l = dec(c);
          assert.ok(!(l > a && l < b), `${fmt} ${s}: levels ${lo} and ${lf} not adjacent`);
        }
        // ffmpeg indexes its table by 14 bits, so its own thresholds sit within 8 LSB of the midpoint.
        assert.ok(Math.abs(s - lf) <= Math.abs(s - lo) + 8, `${fmt} ${s}: ffmpeg level is not the nearer one`);
      }
      // Measured: 964 of 65536 for each law (1.5%), all at decision values.
      assert.ok(diffs <= 1024, `${fmt}: ${diffs} differences`);
    }
  },
);

test('ulawToAlawTable/alawToUlawTable equal decode-then-encode for all 256 codes', () => {
  for (let c = 0; c < 256; c++) {
    assert.equal(ulawToAlawTable[c], linearToAlaw(ulawToLinear(c)));
    assert.equal(alawToUlawTable[c], linearToUlaw(alawToLinear(c)));
  }
  const a = new Uint8Array(256);
  transcodeUlawToAlaw(CODES, a);
  for (let c = 0; c < 256; c++) assert.equal(a[c], ulawToAlawTable[c]);
});

test('PcmuCodec/PcmaCodec encode and decode one 20 ms frame through the tables', () => {
  const pcmu = new PcmuCodec();
  const pcma = new PcmaCodec();
  assert.deepEqual([pcmu.name, pcmu.clockRate, pcmu.sampleRate, pcmu.payloadType], ['pcmu', 8000, 8000, 0]);
  assert.deepEqual([pcma.name, pcma.clockRate, pcma.sampleRate, pcma.payloadType], ['pcma', 8000, 8000, 8]);
  const pcm = new Int16Array(160);
  for (let i = 0; i < 160; i++) pcm[i] = Math.round(12000 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
  const bytes = new Uint8Array(160);
  const back = new Int16Array(160);
  for (const codec of [pcmu, pcma]) {
    assert.equal(codec.encode(pcm, bytes), 160);
    assert.equal(codec.decode(bytes, back), 160);
    let err = 0;
    let sig = 0;
    for (let i = 0; i < 160; i++) {
      sig += pcm[i]! ** 2;
      err += (pcm[i]! - back[i]!) ** 2;
    }
    // G.711 gives about 38 dB SNR on a loud sine.
    assert.ok(10 * Math.log10(sig / err) > 33, codec.name);
    // A lost frame is concealed from the history (G711Plc), not with silence.
    assert.equal(codec.conceal!(back, 160), 160);
    assert.ok(back.some((v) => Math.abs(v) > 6000));
    codec.close!();
  }
});
