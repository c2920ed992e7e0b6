/**
 * RTP parse micro benchmark: RtpPacket.validate() + wrap() + reading sequence number and
 * timestamp, against a baseline that only reads those two fields through a DataView made up
 * front (the least any receive path does). Prints packets/s for both and their ratio, from the
 * same run. Run: node --import tsx bench/rtp-parse.ts
 */
import { performance } from 'node:perf_hooks';
import { RtpPacket, serializeRtpHeader } from '../src/media/rtp/RtpPacket.ts';

const PACKETS = 1024;
const ROUNDS = 9;
const PASSES = 2000; // packets per round = PACKETS * PASSES

// A mix like a real receive path sees: mostly plain 20 ms G.711, some with CSRCs, an
// RFC 8285 extension, or padding; all inside one big slab as datagrams from a pool would be.
const slab = new Uint8Array(PACKETS * 256);
const offsets = new Int32Array(PACKETS);
const lengths = new Int32Array(PACKETS);
const views: DataView[] = [];
for (let i = 0; i < PACKETS; i++) {
  const off = i * 256;
  serializeRtpHeader(slab, off, { pt: 0, seq: i, ts: i * 160, ssrc: 0x12345678, marker: i === 0 });
  let len = 12;
  const kind = i % 16;
  if (kind === 1) {
    slab[off] = 0x82; // two CSRCs
    len += 8;
  } else if (kind === 2) {
    slab[off] = 0x90; // one-byte header extension, one word
    slab.set([0xbe, 0xde, 0, 1, 0x10, 0x7f, 0, 0], off + 12);
    len += 8;
  }
  len += 160;
  if (kind === 3) {
    slab[off] = slab[off]! | 0x20;
    len += 4;
    slab[off + len - 1] = 4;
  }
  offsets[i] = off;
  lengths[i] = len;
  views.push(new DataView(slab.buffer, off, len));
}

function runView(): number {
  const view = new RtpPacket();
  let acc = 0;
  for (let p = 0; p < PASSES; p++) {
    for (let i = 0; i < PACKETS; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (RtpPacket.validate(slab, off, len) !== 0) continue;
      view.wrap(slab, off, len);
      acc = (acc + view.sequenceNumber + view.timestamp + view.payloadLength) | 0;
    }
  }
  return acc;
}

function runBaseline(): number {
  let acc = 0;
  for (let p = 0; p < PASSES; p++) {
    for (let i = 0; i < PACKETS; i++) {
      const dv = views[i]!;
      acc = (acc + dv.getUint16(2) + dv.getUint32(4)) | 0;
    }
  }
  return acc;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function time(fn: () => number): { rate: number; sink: number } {
  const t0 = performance.now();
  const sink = fn();
  const ms = performance.now() - t0;
  return { rate: (PACKETS * PASSES) / (ms / 1000), sink };
}

// Warm-up, then alternate the two so that load from elsewhere on the machine hits both alike;
// the ratio is the median of the per-round ratios.
runBaseline();
runView();
const baseRates: number[] = [];
const ourRates: number[] = [];
const ratios: number[] = [];
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  const b = time(runBaseline);
  const o = time(runView);
  sink ^= b.sink ^ o.sink;
  baseRates.push(b.rate);
  ourRates.push(o.rate);
  ratios.push(o.rate / b.rate);
}
const fmt = (n: number): string => `${(n / 1e6).toFixed(1)} M packets/s`;
process.stdout.write(
  `rtp-parse (${PACKETS} packets x ${PASSES} passes, median of ${ROUNDS} alternating rounds, node ${process.version})\n` +
    `  baseline DataView seq+ts            ${fmt(median(baseRates))}\n` +
    `  RtpPacket validate+wrap+seq+ts+len  ${fmt(median(ourRates))}\n` +
    `  ratio (ours / baseline)             ${median(ratios).toFixed(2)}\n` +
    `  (sink ${sink})\n`,
);
