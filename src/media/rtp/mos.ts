/**
 * Listening/conversational quality estimate: ITU-T G.107 E-model R-factor with the default values
 * of G.107 Table 3 for everything a media server cannot observe (loudness ratings, noise, echo
 * loss), and the three things it can: packet loss, jitter and delay. Works from our own receive
 * statistics alone (no RTCP needed); an RTT from RTCP adds the network delay.
 *
 *   R      = Ro - Is - Id - Ie,eff + A                                   (G.107 clause 7)
 *   Ro-Is  = 94.77 - 1.41 = 93.36 with the defaults (SLR 8, RLR 2, No -61.18 dBm0p)
 *   Id     = Idte + Idle + Idd, with T = Ta (one-way delay) and Tr = 2T
 *     Idd  = 0 for Ta <= 100 ms, else 25 * ((1+X^6)^(1/6) - 3(1+(X/3)^6)^(1/6) + 2),
 *            X = log2(Ta / 100), mA = 100 ms, sT = 1
 *     Idte = ((Roe-Re)/2 + sqrt((Roe-Re)^2/4 + 100) - 1) * (1 - e^-T), Roe = 94.77,
 *            Re = 80 + 2.5 (TERV - 14), TERV = TELR - 40 log10((1+T/10)/(1+T/150)) + 6 e^(-0.3 T^2),
 *            TELR = 65 dB (talker echo)
 *     Idle = (Ro-Rle)/2 + sqrt((Ro-Rle)^2/4 + 169), Rle = 10.5 (WEPL+7)(Tr+1)^(-1/4), WEPL = 110
 *   Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)                (random loss: BurstR = 1)
 *   A      = 0 (wired access)
 *   MOS    = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6, clamped to [1, 4.5]  (G.107 Annex B)
 *
 * One-way delay Ta = network (RTT/2, or given) + jitter buffer (default 2 x jitter, a typical
 * adaptive buffer depth) + codec (packetisation 20 ms for G.711, no look-ahead).
 * With no loss and small delay R = 93.2 and MOS = 4.41, the well-known G.711 ceiling.
 */

/** Equipment impairment per codec (G.113 Appendix I): Ie and packet-loss robustness Bpl. */
export interface CodecImpairment {
  ie: number;
  bpl: number;
}

/** G.711 without packet loss concealment, random loss (G.113 App. I Table I.3). */
export const G711_IMPAIRMENT: CodecImpairment = { ie: 0, bpl: 4.3 };
/** G.711 with PLC as in G.711 Appendix I (G.113 App. I Table I.3). */
export const G711_PLC_IMPAIRMENT: CodecImpairment = { ie: 0, bpl: 25.1 };

const RO = 94.77;
const IS = 1.41;
const ROE = 94.77;
const TELR = 65;
const WEPL = 110;

export interface MosInput {
  /** Packet loss in percent (0..100), ours from ReceiveStats or the peer's from RTCP. */
  lossPercent: number;
  /** Interarrival jitter in ms. */
  jitterMs: number;
  /** Round-trip time from RTCP; one-way network delay is taken as half of it. */
  rttMs?: number;
  /** One-way network delay when known otherwise; overrides rttMs. */
  oneWayDelayMs?: number;
  /** Jitter buffer delay; default 2 x jitterMs. */
  jitterBufferMs?: number;
  /** Codec and packetisation delay; default 20 ms. */
  codecDelayMs?: number;
  /** Codec impairment; default G.711 without PLC. */
  codec?: CodecImpairment;
  /** Burst ratio (1 = random loss). */
  burstR?: number;
}

function finiteOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/** One-way mouth-to-ear delay in ms assumed for `input` (see module comment). */
export function oneWayDelayMs(input: MosInput): number {
  const jitter = finiteOr(input.jitterMs, 0);
  const network = input.oneWayDelayMs !== undefined ? finiteOr(input.oneWayDelayMs, 0) : finiteOr(input.rttMs, 0) / 2;
  return network + finiteOr(input.jitterBufferMs, 2 * jitter) + finiteOr(input.codecDelayMs, 20);
}

/** Id of G.107 for one-way delay `ta` ms, with T = Ta and Tr = 2 Ta. */
export function delayImpairment(ta: number): number {
  const t = ta > 0 ? ta : 0;
  // Talker echo (Idte).
  const terv = TELR - 40 * Math.log10((1 + t / 10) / (1 + t / 150)) + 6 * Math.exp(-0.3 * t * t);
  const re = 80 + 2.5 * (terv - 14);
  const de = (ROE - re) / 2;
  const idte = (de + Math.sqrt(de * de + 100) - 1) * (1 - Math.exp(-t));
  // Listener echo (Idle).
  const rle = 10.5 * (WEPL + 7) * Math.pow(2 * t + 1, -0.25);
  const dl = (RO - rle) / 2;
  const idle = dl + Math.sqrt(dl * dl + 169);
  // Too-long absolute delay (Idd).
  let idd = 0;
  if (t > 100) {
    const x = Math.log2(t / 100);
    idd = 25 * (Math.pow(1 + x ** 6, 1 / 6) - 3 * Math.pow(1 + (x / 3) ** 6, 1 / 6) + 2);
  }
  return idte + idle + idd;
}

/** Ie,eff of G.107 for loss `ppl` percent. */
export function effectiveEquipmentImpairment(
  ppl: number,
  codec: CodecImpairment = G711_IMPAIRMENT,
  burstR = 1,
): number {
  const p = ppl > 0 ? (ppl > 100 ? 100 : ppl) : 0;
  return codec.ie + ((95 - codec.ie) * p) / (p / burstR + codec.bpl);
}

/** The E-model rating R for the observed loss, jitter and delay. */
export function rFactor(input: MosInput): number {
  const ta = oneWayDelayMs(input);
  const ie = effectiveEquipmentImpairment(
    finiteOr(input.lossPercent, 0),
    input.codec ?? G711_IMPAIRMENT,
    finiteOr(input.burstR, 1) || 1,
  );
  return RO - IS - delayImpairment(ta) - ie;
}

/** G.107 Annex B: R to estimated MOS (conversational quality, CQE). */
export function mosFromR(r: number): number {
  if (!(r > 0)) return 1;
  if (r >= 100) return 4.5;
  const mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
  return mos < 1 ? 1 : mos > 4.5 ? 4.5 : mos;
}

/** Estimated MOS (1..4.5) from loss, jitter and delay. */
export function estimateMos(input: MosInput): number {
  return mosFromR(rFactor(input));
}
