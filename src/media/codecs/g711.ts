import type { Codec } from './Codec.ts';
import { G711Plc } from './G711Plc.ts';

/**
 * ITU-T G.711 A-law and µ-law, bit-exact with the ITU-T G.191 STL reference (g711.c:
 * alaw_compress/alaw_expand, ulaw_compress/ulaw_expand). Every conversion is a table lookup;
 * the tables are built once at module load from the reference algorithm.
 *
 * Note on µ-law: G.191 folds negative samples with the one's complement (~x), not the negation
 * (-x) of the older Sun/CCITT sample code that FFmpeg follows, so a few negative inputs near
 * decision thresholds encode one step apart from FFmpeg. A-law is identical in both.
 */

/** G.191 alaw_compress for one 16-bit sample (only the 12 MSBs are significant). */
function alawCompressRef(x: number): number {
  let ix = x < 0 ? ~x >> 4 : x >> 4; // one's complement for negatives: 0 <= ix < 2048
  if (ix > 15) {
    let iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16; // remove the leading 1
    ix += iexp << 4;
  }
  if (x >= 0) ix |= 0x80;
  return (ix ^ 0x55) & 0xff; // toggle even bits
}

/** G.191 alaw_expand for one code. */
function alawExpandRef(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const iexp = ix >> 4;
  let mant = ix & 0x0f;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x08; // left-justify and add half a quantisation step
  if (iexp > 1) mant <<= iexp - 1;
  return code > 127 ? mant : -mant;
}

/** G.191 ulaw_compress for one 16-bit sample (only the 14 MSBs are significant). */
function ulawCompressRef(x: number): number {
  let absno = x < 0 ? (~x >> 2) + 33 : (x >> 2) + 33; // 33: offset between A- and µ-law thresholds
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const high = 0x08 - segno;
  const low = 0x0f - ((absno >> segno) & 0x0f);
  let code = (high << 4) | low;
  if (x >= 0) code |= 0x80;
  return code;
}

/** G.191 ulaw_expand for one code. */
function ulawExpandRef(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const mantissa = ~code;
  const exponent = (mantissa >> 4) & 0x07;
  const segment = exponent + 1;
  const step = 4 << segment;
  return sign * ((0x80 << exponent) + step * (mantissa & 0x0f) + (step >> 1) - 4 * 33);
}

// Encode tables are indexed by the sample's 16 bits as unsigned (s & 0xffff).
const ULAW_ENCODE = new Uint8Array(65536);
const ALAW_ENCODE = new Uint8Array(65536);
const ULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
for (let i = 0; i < 65536; i++) {
  const s = (i << 16) >> 16;
  ULAW_ENCODE[i] = ulawCompressRef(s);
  ALAW_ENCODE[i] = alawCompressRef(s);
}
for (let c = 0; c < 256; c++) {
  ULAW_DECODE[c] = ulawExpandRef(c);
  ALAW_DECODE[c] = alawExpandRef(c);
}

/**
 * Direct µ-law <-> A-law transcoding tables for bridging PCMU and PCMA legs. Defined as decode then
 * encode so they equal the two-step path exactly (the G.711 Appendix tables are not used: they are
 * built to be transparent after a double conversion, which decode-then-encode does not promise).
 */
export const ulawToAlawTable: Uint8Array = new Uint8Array(256);
export const alawToUlawTable: Uint8Array = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  ulawToAlawTable[c] = ALAW_ENCODE[ULAW_DECODE[c]! & 0xffff]!;
  alawToUlawTable[c] = ULAW_ENCODE[ALAW_DECODE[c]! & 0xffff]!;
}

/** Linear PCM16 sample -> µ-law code (G.711 table 2). */
export function linearToUlaw(s: number): number {
  return ULAW_ENCODE[s & 0xffff]!;
}

/** µ-law code -> linear PCM16 sample. */
export function ulawToLinear(c: number): number {
  return ULAW_DECODE[c & 0xff]!;
}

/** Linear PCM16 sample -> A-law code (G.711 table 1, even bits inverted). */
export function linearToAlaw(s: number): number {
  return ALAW_ENCODE[s & 0xffff]!;
}

/** A-law code -> linear PCM16 sample. */
export function alawToLinear(c: number): number {
  return ALAW_DECODE[c & 0xff]!;
}

/** Transcode a µ-law payload to A-law in place-compatible fashion (out may equal input). */
export function transcodeUlawToAlaw(input: Uint8Array, out: Uint8Array): number {
  const n = input.length;
  for (let i = 0; i < n; i++) out[i] = ulawToAlawTable[input[i]!]!;
  return n;
}

/** Transcode an A-law payload to µ-law (out may equal input). */
export function transcodeAlawToUlaw(input: Uint8Array, out: Uint8Array): number {
  const n = input.length;
  for (let i = 0; i < n; i++) out[i] = alawToUlawTable[input[i]!]!;
  return n;
}

/**
 * G.711 as a Codec: table lookups both ways (RFC 3551 4.5.14: 8000 Hz, one octet per sample)
 * and Appendix I concealment from the decoded history.
 */
abstract class G711Codec implements Codec {
  abstract readonly name: string;
  abstract readonly payloadType: number;
  readonly clockRate = 8000;
  readonly sampleRate = 8000;
  readonly channels = 1;
  readonly #encodeTable: Uint8Array;
  readonly #decodeTable: Int16Array;
  /** Concealment state: fed by decode(), so one instance decodes one stream. */
  readonly #plc = new G711Plc(8000);

  constructor(encodeTable: Uint8Array, decodeTable: Int16Array) {
    this.#encodeTable = encodeTable;
    this.#decodeTable = decodeTable;
  }

  encode(pcm: Int16Array, out: Uint8Array): number {
    const table = this.#encodeTable;
    const n = pcm.length;
    for (let i = 0; i < n; i++) out[i] = table[pcm[i]! & 0xffff]!;
    return n;
  }

  decode(payload: Uint8Array, out: Int16Array): number {
    const table = this.#decodeTable;
    const n = payload.length;
    for (let i = 0; i < n; i++) out[i] = table[payload[i]!]!;
    this.#plc.onGoodFrame(out, n);
    return n;
  }

  /** G.711 Appendix I waveform substitution from the decoded history (see G711Plc). */
  conceal(out: Int16Array, samples: number): number {
    return this.#plc.conceal(out, samples);
  }

  close(): void {}
}

/** PCMU: static PT 0. */
export class PcmuCodec extends G711Codec {
  readonly name = 'pcmu';
  readonly payloadType = 0;
  constructor() {
    super(ULAW_ENCODE, ULAW_DECODE);
  }
}

/** PCMA: static PT 8. */
export class PcmaCodec extends G711Codec {
  readonly name = 'pcma';
  readonly payloadType = 8;
  constructor() {
    super(ALAW_ENCODE, ALAW_DECODE);
  }
}
