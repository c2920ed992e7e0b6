import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  estimateMos,
  rFactor,
  mosFromR,
  delayImpairment,
  effectiveEquipmentImpairment,
  oneWayDelayMs,
  G711_IMPAIRMENT,
  G711_PLC_IMPAIRMENT,
} from '../../../src/media/rtp/mos.ts';

const close = (a: number, b: number, eps: number, msg?: string): void =>
  assert.ok(Math.abs(a - b) <= eps, `${msg ?? ''} ${a} vs ${b}`);

test('rFactor() gives the G.107 default R = 93.2 and MOS 4.41 with no impairment', () => {
  const input = { lossPercent: 0, jitterMs: 0, codecDelayMs: 0 };
  close(rFactor(input), 93.2, 0.05);
  close(estimateMos(input), 4.41, 0.01);
});

test('mosFromR() follows G.107 Annex B and clamps to [1, 4.5]', () => {
  assert.equal(mosFromR(-5), 1);
  assert.equal(mosFromR(0), 1);
  assert.equal(mosFromR(3), 1, 'the cubic dips below 1 near 0');
  assert.equal(mosFromR(100), 4.5);
  assert.equal(mosFromR(120), 4.5);
  assert.equal(mosFromR(NaN), 1);
  close(mosFromR(50), 1 + 0.035 * 50 + 50 * -10 * 50 * 7e-6, 1e-12);
  close(mosFromR(80), 4.02, 0.01);
  close(mosFromR(70), 3.6, 0.01);
});

test('effectiveEquipmentImpairment() is the G.107 Ie,eff with G.113 G.711 values', () => {
  assert.equal(effectiveEquipmentImpairment(0), 0);
  close(effectiveEquipmentImpairment(1), 95 / 5.3, 1e-12);
  close(effectiveEquipmentImpairment(1, G711_PLC_IMPAIRMENT), 95 / 26.1, 1e-12);
  close(effectiveEquipmentImpairment(100), (95 * 100) / 104.3, 1e-12);
  assert.equal(effectiveEquipmentImpairment(250), effectiveEquipmentImpairment(100), 'loss capped at 100 %');
  assert.deepEqual(G711_IMPAIRMENT, { ie: 0, bpl: 4.3 });
});

test('delayImpairment() is small below 100 ms and grows steeply past 200 ms', () => {
  assert.ok(delayImpairment(0) < 0.2);
  assert.ok(delayImpairment(100) < 3);
  let prev = delayImpairment(0);
  for (let t = 10; t <= 600; t += 10) {
    const d = delayImpairment(t);
    assert.ok(d >= prev - 1e-9, `monotonic at ${t}`);
    prev = d;
  }
  assert.ok(delayImpairment(400) - delayImpairment(200) > 20);
});

test('oneWayDelayMs() adds half the RTT, a 2x jitter buffer and the codec delay', () => {
  assert.equal(oneWayDelayMs({ lossPercent: 0, jitterMs: 10, rttMs: 100 }), 50 + 20 + 20);
  assert.equal(oneWayDelayMs({ lossPercent: 0, jitterMs: 10, rttMs: 100, oneWayDelayMs: 30 }), 30 + 20 + 20);
  assert.equal(
    oneWayDelayMs({ lossPercent: 0, jitterMs: 10, rttMs: NaN, jitterBufferMs: 60, codecDelayMs: 30 }),
    90,
    'NaN RTT means unknown',
  );
});

test('estimateMos() drops with loss, jitter and delay, and G.711 PLC softens loss', () => {
  const base = estimateMos({ lossPercent: 0, jitterMs: 2 });
  const lossy = estimateMos({ lossPercent: 2, jitterMs: 2 });
  const plc = estimateMos({ lossPercent: 2, jitterMs: 2, codec: G711_PLC_IMPAIRMENT });
  const jittery = estimateMos({ lossPercent: 0, jitterMs: 80 });
  const far = estimateMos({ lossPercent: 0, jitterMs: 2, rttMs: 600 });
  assert.ok(base > 4.3);
  assert.ok(lossy < base - 0.5, `2 % loss without PLC costs a lot: ${lossy}`);
  assert.ok(plc > lossy && plc < base);
  assert.ok(jittery < base);
  assert.ok(far < 4.0, `${far}`);
  assert.ok(estimateMos({ lossPercent: 30, jitterMs: 100, rttMs: 800 }) < 1.5);
});
