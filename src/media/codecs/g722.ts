import type { Codec } from './Codec.ts';
import { G711Plc } from './G711Plc.ts';

/**
 * ITU-T G.722 (09/2012) 64 kbit/s mode: sub-band ADPCM. A 24-tap QMF splits 16 kHz PCM into a
 * lower (0-4 kHz) band coded with 6-bit ADPCM and a higher (4-8 kHz) band coded with 2-bit ADPCM;
 * each octet is (IH << 6) | IL. All arithmetic follows the fixed-point blocks of the
 * Recommendation (section 6 encoder, section 7 decoder), named in comments as there.
 * RTP (RFC 3551 4.5.2): static PT 9, clock rate 8000 although the PCM is 16 kHz.
 */

// QMF coefficients h0..h11 (Table 11/G.722), the other 12 are the mirror image.
const QMF = Int32Array.of(3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11);

// Lower band: decision levels of the 6-bit quantiser scaled by 2^12 (Table 6, Q6).
const Q6 = Int32Array.of(
  0,
  35,
  72,
  110,
  150,
  190,
  233,
  276,
  323,
  370,
  422,
  473,
  530,
  587,
  650,
  714,
  786,
  858,
  940,
  1023,
  1121,
  1219,
  1339,
  1458,
  1612,
  1765,
  1980,
  2195,
  2557,
  2919,
  0,
  0,
);
// Quantiser interval -> codeword, negative and positive (Table 6, ILN/ILP).
const ILN = Int32Array.of(
  0,
  63,
  62,
  31,
  30,
  29,
  28,
  27,
  26,
  25,
  24,
  23,
  22,
  21,
  20,
  19,
  18,
  17,
  16,
  15,
  14,
  13,
  12,
  11,
  10,
  9,
  8,
  7,
  6,
  5,
  4,
  0,
);
const ILP = Int32Array.of(
  0,
  61,
  60,
  59,
  58,
  57,
  56,
  55,
  54,
  53,
  52,
  51,
  50,
  49,
  48,
  47,
  46,
  45,
  44,
  43,
  42,
  41,
  40,
  39,
  38,
  37,
  36,
  35,
  34,
  33,
  32,
  0,
);
// Inverse quantiser outputs of the 4-bit (QM4) and 6-bit (QM6) lower band (Tables 7 and 8).
const QM4 = Int32Array.of(
  0,
  -20456,
  -12896,
  -8968,
  -6288,
  -4240,
  -2584,
  -1200,
  20456,
  12896,
  8968,
  6288,
  4240,
  2584,
  1200,
  0,
);
const QM6 = Int32Array.of(
  -136,
  -136,
  -136,
  -136,
  -24808,
  -21904,
  -19008,
  -16704,
  -14984,
  -13512,
  -12280,
  -11192,
  -10232,
  -9360,
  -8576,
  -7856,
  -7192,
  -6576,
  -6000,
  -5456,
  -4944,
  -4464,
  -4008,
  -3576,
  -3168,
  -2776,
  -2400,
  -2032,
  -1688,
  -1360,
  -1040,
  -728,
  24808,
  21904,
  19008,
  16704,
  14984,
  13512,
  12280,
  11192,
  10232,
  9360,
  8576,
  7856,
  7192,
  6576,
  6000,
  5456,
  4944,
  4464,
  4008,
  3576,
  3168,
  2776,
  2400,
  2032,
  1688,
  1360,
  1040,
  728,
  432,
  136,
  -432,
  -136,
);
// LOGSCL: 4-bit code -> magnitude index, and log scale factor multipliers (Table 9, RIL/WL).
const RL42 = Int32Array.of(0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0);
const WL = Int32Array.of(-60, -30, 58, 172, 334, 538, 1198, 3042);
// SCALEL/SCALEH: antilog table ILB (Table 10).
const ILB = Int32Array.of(
  2048,
  2093,
  2139,
  2186,
  2233,
  2282,
  2332,
  2383,
  2435,
  2489,
  2543,
  2599,
  2656,
  2714,
  2774,
  2834,
  2896,
  2960,
  3025,
  3091,
  3158,
  3228,
  3298,
  3371,
  3444,
  3520,
  3597,
  3676,
  3756,
  3838,
  3922,
  4008,
);
// Higher band (Tables 12-14): codewords, inverse quantiser, log scale factor multipliers.
const IHN = Int32Array.of(0, 1, 0);
const IHP = Int32Array.of(0, 3, 2);
const QM2 = Int32Array.of(-7408, -1616, 7408, 1616);
const RH2 = Int32Array.of(2, 1, 2, 1);
const WH = Int32Array.of(0, -214, 798);

function sat(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/** Adaptive predictor state of one sub-band (block 4 and the scale factor of block 3). */
class Band {
  s = 0; // predictor output (signal estimate)
  sp = 0; // pole section output
  sz = 0; // zero section output
  nb = 0; // log scale factor
  det: number; // scale factor
  readonly r = new Int32Array(3); // reconstructed signal r[0..2]
  readonly p = new Int32Array(3); // partial reconstructed signal
  readonly a = new Int32Array(3); // pole coefficients a1, a2
  readonly ap = new Int32Array(3);
  readonly d = new Int32Array(7); // quantised difference signal d[0..6]
  readonly b = new Int32Array(7); // zero coefficients b1..b6
  readonly bp = new Int32Array(7);
  readonly sg = new Int32Array(7);

  constructor(det: number) {
    this.det = det;
  }

  reset(det: number): void {
    this.s = this.sp = this.sz = this.nb = 0;
    this.det = det;
    this.r.fill(0);
    this.p.fill(0);
    this.a.fill(0);
    this.ap.fill(0);
    this.d.fill(0);
    this.b.fill(0);
    this.bp.fill(0);
    this.sg.fill(0);
  }

  /** Block 4: RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC. */
  update(dq: number): void {
    const { r, p, a, ap, d, b, bp, sg } = this;
    // RECONS and PARREC
    d[0] = dq;
    r[0] = sat(this.s + dq);
    p[0] = sat(this.sz + dq);
    // UPPOL2: second pole coefficient
    sg[0] = p[0]! >> 15;
    sg[1] = p[1]! >> 15;
    sg[2] = p[2]! >> 15;
    let wd1 = sat(a[1]! << 2);
    let wd2 = sg[0] === sg[1] ? -wd1 : wd1;
    if (wd2 > 32767) wd2 = 32767;
    let wd3 = (wd2 >> 7) + (sg[0] === sg[2] ? 128 : -128);
    wd3 += (a[2]! * 32512) >> 15;
    if (wd3 > 12288) wd3 = 12288;
    else if (wd3 < -12288) wd3 = -12288;
    ap[2] = wd3;
    // UPPOL1: first pole coefficient, limited by 1 - 2^-4 - a2
    wd1 = sg[0] === sg[1] ? 192 : -192;
    wd2 = (a[1]! * 32640) >> 15;
    ap[1] = sat(wd1 + wd2);
    wd3 = sat(15360 - ap[2]!);
    if (ap[1]! > wd3) ap[1] = wd3;
    else if (ap[1]! < -wd3) ap[1] = -wd3;
    // UPZERO: sign-sign update of the six zero coefficients
    wd1 = dq === 0 ? 0 : 128;
    sg[0] = dq >> 15;
    for (let i = 1; i < 7; i++) {
      sg[i] = d[i]! >> 15;
      wd2 = sg[i] === sg[0] ? wd1 : -wd1;
      wd3 = (b[i]! * 32640) >> 15;
      bp[i] = sat(wd2 + wd3);
    }
    // DELAYA
    for (let i = 6; i > 0; i--) {
      d[i] = d[i - 1]!;
      b[i] = bp[i]!;
    }
    for (let i = 2; i > 0; i--) {
      r[i] = r[i - 1]!;
      p[i] = p[i - 1]!;
      a[i] = ap[i]!;
    }
    // FILTEP
    wd1 = sat(r[1]! + r[1]!);
    wd1 = (a[1]! * wd1) >> 15;
    wd2 = sat(r[2]! + r[2]!);
    wd2 = (a[2]! * wd2) >> 15;
    this.sp = sat(wd1 + wd2);
    // FILTEZ
    let sz = 0;
    for (let i = 6; i > 0; i--) {
      wd1 = sat(d[i]! + d[i]!);
      sz += (b[i]! * wd1) >> 15;
    }
    this.sz = sat(sz);
    // PREDIC
    this.s = sat(this.sp + this.sz);
  }

  /** Blocks 3L LOGSCL + SCALEL: adapt the lower band scale factor from the 4-bit code. */
  adaptLow(il4: number): void {
    let nb = ((this.nb * 127) >> 7) + WL[RL42[il4]!]!;
    if (nb < 0) nb = 0;
    else if (nb > 18432) nb = 18432;
    this.nb = nb;
    const wd1 = (nb >> 6) & 31;
    const wd2 = 8 - (nb >> 11);
    const wd3 = wd2 < 0 ? ILB[wd1]! << -wd2 : ILB[wd1]! >> wd2;
    this.det = wd3 << 2;
  }

  /** Blocks 3H LOGSCH + SCALEH: adapt the higher band scale factor from the 2-bit code. */
  adaptHigh(ih: number): void {
    let nb = ((this.nb * 127) >> 7) + WH[RH2[ih]!]!;
    if (nb < 0) nb = 0;
    else if (nb > 22528) nb = 22528;
    this.nb = nb;
    const wd1 = (nb >> 6) & 31;
    const wd2 = 10 - (nb >> 11);
    const wd3 = wd2 < 0 ? ILB[wd1]! << -wd2 : ILB[wd1]! >> wd2;
    this.det = wd3 << 2;
  }
}

/** G.722 encoder: 16 kHz PCM16 -> one octet per pair of input samples. */
export class G722Encoder {
  readonly #low = new Band(32);
  readonly #high = new Band(8);
  readonly #x = new Int32Array(24); // transmit QMF delay line

  reset(): void {
    this.#low.reset(32);
    this.#high.reset(8);
    this.#x.fill(0);
  }

  /** Encodes pcm (an even number of samples, 16 kHz) into out; returns octets written. */
  encode(pcm: Int16Array, out: Uint8Array): number {
    const x = this.#x;
    const low = this.#low;
    const high = this.#high;
    const n = pcm.length >> 1;
    for (let k = 0, j = 0; k < n; k++) {
      // Transmit QMF (6.1): shift in two samples, keep every other output.
      for (let i = 0; i < 22; i++) x[i] = x[i + 2]!; // cheaper than copyWithin for 22 values
      x[22] = pcm[j++]!;
      x[23] = pcm[j++]!;
      let sumodd = 0;
      let sumeven = 0;
      for (let i = 0; i < 12; i++) {
        sumodd += x[2 * i]! * QMF[i]!;
        sumeven += x[2 * i + 1]! * QMF[11 - i]!;
      }
      const xl = (sumeven + sumodd) >> 14;
      const xh = (sumeven - sumodd) >> 14;

      // Block 1L SUBTRA + QUANTL: 6-bit quantisation of the prediction error.
      const el = sat(xl - low.s);
      const wdl = el >= 0 ? el : -(el + 1);
      let i = 1;
      for (; i < 30; i++) {
        if (wdl < (Q6[i]! * low.det) >> 12) break;
      }
      const il = el < 0 ? ILN[i]! : ILP[i]!;
      // Block 2L INVQAL on the 4 MSBs (the embedded core used for prediction).
      const il4 = il >> 2;
      const dl = (low.det * QM4[il4]!) >> 15;
      low.adaptLow(il4);
      low.update(dl);

      // Block 1H SUBTRA + QUANTH: 2-bit quantisation.
      const eh = sat(xh - high.s);
      const wdh = eh >= 0 ? eh : -(eh + 1);
      const mih = wdh >= (564 * high.det) >> 12 ? 2 : 1;
      const ih = eh < 0 ? IHN[mih]! : IHP[mih]!;
      // Block 2H INVQAH
      const dh = (high.det * QM2[ih]!) >> 15;
      high.adaptHigh(ih);
      high.update(dh);

      out[k] = (ih << 6) | il;
    }
    return n;
  }
}

/** G.722 decoder: octets -> 16 kHz PCM16, two samples per octet. */
export class G722Decoder {
  readonly #low = new Band(32);
  readonly #high = new Band(8);
  readonly #x = new Int32Array(24); // receive QMF delay line

  reset(): void {
    this.#low.reset(32);
    this.#high.reset(8);
    this.#x.fill(0);
  }

  decode(payload: Uint8Array, out: Int16Array): number {
    const x = this.#x;
    const low = this.#low;
    const high = this.#high;
    const n = payload.length;
    let j = 0;
    for (let k = 0; k < n; k++) {
      const code = payload[k]!;
      const il = code & 0x3f;
      const ih = code >> 6;

      // Block 5L INVQBL + RECONS + LIMIT: the 6-bit reconstruction is what we output.
      let rl = low.s + ((low.det * QM6[il]!) >> 15);
      if (rl > 16383) rl = 16383;
      else if (rl < -16384) rl = -16384;
      // Blocks 2L, 3L, 4L run on the 4-bit core exactly as in the encoder.
      const il4 = il >> 2;
      const dl = (low.det * QM4[il4]!) >> 15;
      low.adaptLow(il4);
      low.update(dl);

      // Block 2H INVQAH, 5H RECONS, 6H LIMIT
      const dh = (high.det * QM2[ih]!) >> 15;
      let rh = dh + high.s;
      if (rh > 16383) rh = 16383;
      else if (rh < -16384) rh = -16384;
      high.adaptHigh(ih);
      high.update(dh);

      // Receive QMF (7.1): two output samples per pair of sub-band samples.
      for (let i = 0; i < 22; i++) x[i] = x[i + 2]!;
      x[22] = rl + rh;
      x[23] = rl - rh;
      let xout1 = 0;
      let xout2 = 0;
      for (let i = 0; i < 12; i++) {
        xout2 += x[2 * i]! * QMF[i]!;
        xout1 += x[2 * i + 1]! * QMF[11 - i]!;
      }
      out[j++] = sat(xout1 >> 11);
      out[j++] = sat(xout2 >> 11);
    }
    return j;
  }
}

/** G.722 as a Codec: 16 kHz PCM, RTP clock 8000, static PT 9 (RFC 3551 4.5.2). */
export class G722Codec implements Codec {
  readonly name = 'g722';
  readonly clockRate = 8000;
  readonly sampleRate = 16000;
  readonly channels = 1;
  readonly payloadType = 9;
  readonly #enc = new G722Encoder();
  readonly #dec = new G722Decoder();
  readonly #plc = new G711Plc(16000);

  encode(pcm: Int16Array, out: Uint8Array): number {
    return this.#enc.encode(pcm, out);
  }

  decode(payload: Uint8Array, out: Int16Array): number {
    const n = this.#dec.decode(payload, out);
    this.#plc.onGoodFrame(out, n);
    return n;
  }

  /**
   * G.722 proper has no PLC (Appendices III/IV are separate, heavier algorithms): G.711 Appendix I
   * waveform substitution at 16 kHz on the decoded output. The ADPCM state is not updated with the
   * concealed signal, so the first good frame decodes from the pre-loss state, as before.
   */
  conceal(out: Int16Array, samples: number): number {
    return this.#plc.conceal(out, samples);
  }

  close(): void {}
}
