import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiveStats, SeqStatus, MAX_DROPOUT } from '../../../src/media/rtp/ReceiveStats.ts';

const SSRC = 0x1234;

/** Feed packets `seqs` of a 8 kHz, 20 ms stream arriving exactly on time. */
function feed(stats: ReceiveStats, seqs: number[], firstSeq = seqs[0] ?? 0): number[] {
  return seqs.map((s) => {
    const n = (s - firstSeq) & 0xffff;
    return stats.onPacket(SSRC, s & 0xffff, (n * 160) >>> 0, 160, n * 20);
  });
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

test('ReceiveStats holds a new source in probation until two packets arrive in sequence (A.1)', () => {
  const s = new ReceiveStats(8000);
  assert.equal(s.makeReportBlock(0), null, 'nothing to report before any packet');
  assert.deepEqual(feed(s, [100]), [SeqStatus.PROBATION]);
  assert.equal(s.valid, false);
  assert.equal(s.packets, 0);
  assert.equal(s.makeReportBlock(0), null);
  assert.deepEqual(feed(s, [101], 100), [SeqStatus.IN_ORDER]);
  assert.equal(s.valid, true);
  assert.equal(s.packets, 1);
  assert.equal(s.expected, 1);
  assert.equal(s.cumulativeLost, 0);
});

test('ReceiveStats restarts probation when the first packets are not in sequence', () => {
  const s = new ReceiveStats(8000);
  assert.deepEqual(feed(s, [10, 50, 51], 10), [SeqStatus.PROBATION, SeqStatus.PROBATION, SeqStatus.IN_ORDER]);
  assert.equal(s.packets, 1);
  assert.equal(s.extendedHighestSeq, 51);
});

test('ReceiveStats completes probation across the 65535 -> 0 wrap', () => {
  const s = new ReceiveStats(8000);
  assert.deepEqual(feed(s, [65535, 65536]), [SeqStatus.PROBATION, SeqStatus.IN_ORDER]);
  assert.equal(s.valid, true);
});

test('ReceiveStats counts 64K cycles when sequence numbers wrap', () => {
  const s = new ReceiveStats(8000);
  const statuses = feed(s, range(65500, 200));
  assert.ok(statuses.slice(1).every((x) => x === SeqStatus.IN_ORDER));
  assert.equal(s.packets, 199);
  assert.equal(s.extendedHighestSeq, 65536 + ((65500 + 199) & 0xffff));
  assert.equal(s.expected, 199);
  assert.equal(s.cumulativeLost, 0);
  // Three full cycles later the cycle count keeps growing.
  const t = new ReceiveStats(8000);
  feed(t, range(0, 3 * 65536 + 10));
  assert.equal(t.extendedHighestSeq, 3 * 65536 + 9);
  assert.equal(t.cumulativeLost, 0);
  const rb = t.makeReportBlock(0);
  assert.equal(rb?.extendedHighestSeq, (3 << 16) | 9);
});

test('ReceiveStats counts reordered packets as late, without loss', () => {
  const s = new ReceiveStats(8000);
  const st = feed(s, [1, 2, 3, 5, 4, 6, 8, 7, 9]);
  assert.equal(st[4], SeqStatus.LATE);
  assert.equal(st[7], SeqStatus.LATE);
  assert.equal(s.late, 2);
  assert.equal(s.duplicates, 0);
  assert.equal(s.cumulativeLost, 0);
  assert.equal(s.extendedHighestSeq, 9);
});

test('ReceiveStats tells duplicates from late packets, and lost goes negative as A.3 allows', () => {
  const s = new ReceiveStats(8000);
  const st = feed(s, [1, 2, 3, 3, 4, 2, 5, 5]);
  assert.deepEqual(st, [
    SeqStatus.PROBATION,
    SeqStatus.IN_ORDER,
    SeqStatus.IN_ORDER,
    SeqStatus.DUPLICATE,
    SeqStatus.IN_ORDER,
    SeqStatus.DUPLICATE,
    SeqStatus.IN_ORDER,
    SeqStatus.DUPLICATE,
  ]);
  assert.equal(s.duplicates, 3);
  assert.equal(s.late, 0);
  assert.equal(s.packets, 7, 'duplicates are counted in received (A.1)');
  assert.equal(s.expected, 4);
  assert.equal(s.cumulativeLost, -3);
  assert.equal(s.makeReportBlock(0)?.cumulativeLost, -3);
  assert.equal(s.lossPercent, 0);
});

test('ReceiveStats detects a duplicate of a packet from before the wrap', () => {
  const s = new ReceiveStats(8000);
  const st = feed(s, [65533, 65534, 65535, 0, 1, 65535, 65534]);
  assert.deepEqual(st.slice(5), [SeqStatus.DUPLICATE, SeqStatus.DUPLICATE]);
  assert.deepEqual(feed(s, [65532], 65533), [SeqStatus.LATE], 'a never-seen older packet is late');
});

test('ReceiveStats.makeReportBlock() reports the fraction lost after a known gap, per interval (A.3)', () => {
  const s = new ReceiveStats(8000);
  // 0..99 with 90..99 missing in the first interval: expected 99 after probation, 10 lost.
  feed(s, [...range(0, 90), 100], 0);
  const first = s.makeReportBlock(0);
  assert.ok(first !== null);
  assert.equal(s.expected, 100);
  assert.equal(s.packets, 90);
  assert.equal(first.cumulativeLost, 10);
  assert.equal(first.fractionLost, Math.floor((10 * 256) / 100));
  assert.equal(s.lastFractionLost, 25);
  assert.equal(first.extendedHighestSeq, 100);
  assert.equal(first.ssrc, SSRC);
  // Next interval: 100 more in a row, no loss there; cumulative stays.
  feed(s, range(101, 100), 0);
  const second = s.makeReportBlock(0);
  assert.equal(second?.fractionLost, 0);
  assert.equal(second?.cumulativeLost, 10);
  assert.ok(Math.abs(s.lossPercent - (10 * 100) / 200) < 1e-9);
  // An interval with nothing expected reports 0, not NaN.
  assert.equal(s.makeReportBlock(0)?.fractionLost, 0);
});

test('ReceiveStats drops a single big jump and re-syncs when the sender really restarted (A.1)', () => {
  const s = new ReceiveStats(8000);
  feed(s, range(1000, 10), 1000);
  assert.equal(s.onPacket(SSRC, 1009 + MAX_DROPOUT + 5, 0, 160, 0), SeqStatus.BAD_JUMP);
  assert.equal(s.badJumps, 1);
  assert.equal(s.packets, 9, 'the stray packet is not counted');
  assert.equal(s.onPacket(SSRC, 1010, 1600, 160, 200), SeqStatus.IN_ORDER);
  // Now two in a row far away: restart.
  assert.equal(s.onPacket(SSRC, 30000, 0, 160, 300), SeqStatus.BAD_JUMP);
  assert.equal(s.onPacket(SSRC, 30001, 160, 160, 320), SeqStatus.RESYNC);
  assert.equal(s.packets, 1);
  assert.equal(s.extendedHighestSeq, 30001);
  assert.equal(s.expected, 1);
  assert.equal(s.onPacket(SSRC, 30002, 320, 160, 340), SeqStatus.IN_ORDER);
  assert.equal(s.cumulativeLost, 0);
  assert.equal(s.jitter, 0, 'timing restarts with the new sequence');
});

test('ReceiveStats restarts on a new SSRC', () => {
  const s = new ReceiveStats(8000);
  feed(s, range(0, 50));
  assert.equal(s.onPacket(0x9999, 7, 0, 160, 2000), SeqStatus.PROBATION);
  assert.equal(s.ssrc, 0x9999);
  assert.equal(s.ssrcChanges, 1);
  assert.equal(s.valid, false);
  assert.equal(s.onPacket(0x9999, 8, 160, 160, 2020), SeqStatus.IN_ORDER);
  assert.equal(s.packets, 1);
  assert.equal(s.octets, 160);
});

test('ReceiveStats jitter is 0 on a constant stream, across the 32-bit timestamp wrap', () => {
  const s = new ReceiveStats(8000);
  const ts0 = 0xffffff00;
  for (let i = 0; i < 500; i++) s.onPacket(SSRC, i, (ts0 + i * 160) >>> 0, 160, 1000.25 + i * 20);
  assert.equal(s.jitter, 0);
  assert.equal(s.jitterMs, 0);
});

test('ReceiveStats jitter follows the A.8 formula on a stream with known delay variation', () => {
  const clock = 8000;
  const s = new ReceiveStats(clock);
  // Deterministic pseudo-random network delay 0..40 ms, plus late packets swapped in pairs.
  let x = 12345;
  const rand = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const order = range(0, 400);
  for (let i = 10; i < 390; i += 37) [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
  const arrivals = order.map((n) => ({ n, at: n * 20 + rand() * 40 }));
  // Direct A.8: J += (|D| - J)/16 with D = (Rj - Ri) - (Sj - Si), in arrival order, in clock units.
  let expected = 0;
  let prev: { n: number; at: number } | undefined;
  for (const a of arrivals) {
    s.onPacket(SSRC, a.n, a.n * 160, 160, a.at);
    if (a.n === 0) continue; // probation packet carries no timing for the stats
    if (prev !== undefined) {
      const d = (a.at - prev.at) * (clock / 1000) - (a.n - prev.n) * 160;
      expected += (Math.abs(d) - expected) / 16;
    }
    prev = a;
  }
  assert.ok(expected > 10, 'the stream does vary');
  assert.ok(Math.abs(s.jitter - expected) < 1e-9, `jitter ${s.jitter} vs ${expected}`);
  assert.ok(Math.abs(s.jitterMs - expected / 8) < 1e-9);
  assert.equal(s.makeReportBlock(0)?.jitter, Math.trunc(expected));
});

test('ReceiveStats jitter converges to a constant |D| as 1 - (15/16)^n', () => {
  const s = new ReceiveStats(16000);
  // Delay alternates 0 / 10 ms: every |D| is 10 ms = 160 units at 16 kHz.
  for (let i = 0; i < 60; i++) s.onPacket(SSRC, i, i * 320, 640, i * 20 + (i % 2) * 10);
  const n = 58; // transitions after the probation packet and the first timed one
  assert.ok(Math.abs(s.jitter - 160 * (1 - (15 / 16) ** n)) < 1e-9);
});

test('ReceiveStats fills LSR and DLSR from the last SR of the peer (RFC 3550 6.4.1)', () => {
  const s = new ReceiveStats(8000);
  feed(s, range(0, 5));
  const before = s.makeReportBlock(1000);
  assert.equal(before?.lsr, 0);
  assert.equal(before?.dlsr, 0);
  s.onSenderReport(0xb7052000, 1000);
  const rb = s.makeReportBlock(3500);
  assert.equal(rb?.lsr, 0xb7052000);
  assert.equal(rb?.dlsr, 2.5 * 65536);
  const reused = { ssrc: 0, fractionLost: 0, cumulativeLost: 0, extendedHighestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 };
  assert.equal(s.makeReportBlock(1000 + 5250, reused), reused, 'fills the block it is given');
  assert.equal(reused.dlsr, 0x00054000, 'DLSR 5.25 s as in the RFC example');
});

test('ReceiveStats rejects a non-positive clock rate', () => {
  assert.throws(() => new ReceiveStats(0), RangeError);
});
