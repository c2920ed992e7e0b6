import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtmfDetector } from '../../../src/media/dtmf/DtmfDetector.ts';
import type { DtmfEvent } from '../../../src/media/dtmf/DtmfEvent.ts';
import { DtmfGenerator } from '../../../src/media/dtmf/DtmfGenerator.ts';
import { DtmfMerger } from '../../../src/media/dtmf/DtmfMerger.ts';
import { Rfc4733Receiver } from '../../../src/media/dtmf/Rfc4733Receiver.ts';
import { MARKER, Rfc4733Sender, SEND } from '../../../src/media/dtmf/Rfc4733Sender.ts';

const ev = (digit: DtmfEvent['digit'], source: DtmfEvent['source'], startMs: number, durationMs = 100): DtmfEvent => ({
  digit,
  source,
  startMs,
  durationMs,
});

test('DtmfMerger.push() reports a press carried by both RFC 4733 and tones once, first source wins', () => {
  const out: DtmfEvent[] = [];
  const m = new DtmfMerger({ onDigit: (e) => out.push(e) });
  assert.equal(m.push(ev('4', 'rfc4733', 1000)), true);
  assert.equal(m.push(ev('4', 'inband', 1030)), false);
  assert.deepEqual(
    out.map((e) => e.source),
    ['rfc4733'],
  );
  assert.deepEqual(m.stats, { reported: 1, suppressed: 1 });
});

test('DtmfMerger.push() keeps quick repeats, different digits and same-source events', () => {
  const m = new DtmfMerger({ windowMs: 100 });
  // "55" dialled quickly over both paths: each report absorbs only one duplicate.
  assert.equal(m.push(ev('5', 'rfc4733', 0)), true);
  assert.equal(m.push(ev('5', 'inband', 20)), false);
  assert.equal(m.push(ev('5', 'rfc4733', 180)), true);
  assert.equal(m.push(ev('5', 'inband', 200)), false);
  assert.equal(m.push(ev('6', 'inband', 400)), true);
  assert.equal(m.push(ev('6', 'inband', 420)), true, 'the same source twice is two presses');
  assert.equal(m.push(ev('7', 'rfc4733', 1000)), true);
  assert.equal(m.push(ev('7', 'inband', 1500)), true, 'far apart and not overlapping: another press');
  assert.deepEqual(m.stats, { reported: 6, suppressed: 2 });
});

test('DtmfMerger joins our RFC 4733 receiver and in-band detector fed the same digits', () => {
  const merged: DtmfEvent[] = [];
  const merger = new DtmfMerger({ onDigit: (e) => merged.push(e) });
  const rx = new Rfc4733Receiver({ onDigit: (e) => merger.push(e) });
  const det = new DtmfDetector({ onDigit: (e) => merger.push(e), startTimeMs: 0 });
  const gen = new DtmfGenerator({ durationMs: 100, pauseMs: 100 });
  // Same cadence as the tones: 5 ticks of tone, 2 more end copies, 3 ticks of gap = 200 ms.
  const tx = new Rfc4733Sender({ durationMs: 100, gapMs: 60 });
  gen.queue('2580');
  tx.send('2580');
  const frame = new Int16Array(160);
  const payload = new Uint8Array(4);
  let eventTs = 0;
  for (let tick = 0; tick < 100; tick++) {
    const nowMs = tick * 20;
    gen.fill(frame);
    det.process(frame);
    const flags = tx.next(payload);
    if (flags & MARKER) eventTs = tick * 160;
    if (flags & SEND) rx.push(1, tick, eventTs + tx.timestampOffset, (flags & MARKER) !== 0, payload, nowMs);
    rx.tick(nowMs);
  }
  det.flush();
  assert.equal(merged.map((e) => e.digit).join(''), '2580');
  assert.equal(merger.stats.suppressed, 4);
});
