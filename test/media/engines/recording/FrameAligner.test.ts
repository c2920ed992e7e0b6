import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameAligner } from '../../../../src/media/engines/recording/FrameAligner.ts';

/** Frames of a ramp, so every sample says where it came from. */
function ramp(from: number, n: number): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = (from + i) % 30000;
  return out;
}

test('FrameAligner.read() hands out whole frames in order across packet sizes (30 ms packets, 20 ms frames)', () => {
  const a = new FrameAligner(160);
  const out = new Int16Array(160);
  const got: number[] = [];
  let sent = 0;
  // 30 ms packets arrive on 10 ms boundaries; a frame is read every 20 ms
  for (let ms = 0; ms < 600; ms += 10) {
    if (ms % 30 === 0) {
      a.write(ramp(sent, 240));
      sent += 240;
    }
    if (ms % 20 === 10 && a.read(out)) got.push(...out);
  }
  for (let i = 0; i < got.length; i++) assert.equal(got[i], i, `sample ${i}`);
  assert.ok(got.length >= sent - 480, `read ${got.length} of ${sent}`);
});

test('FrameAligner.read() answers a missing frame with silence and keeps the late audio', () => {
  const a = new FrameAligner(160);
  const out = new Int16Array(160).fill(7);
  assert.equal(a.read(out), false);
  assert.ok(out.every((s) => s === 0), 'silence before any audio');
  assert.equal(a.underruns, 0, 'not an underrun before the first packet');
  a.write(ramp(0, 160));
  assert.equal(a.read(out), true);
  assert.equal(a.read(out), false, 'the next packet is late');
  assert.equal(a.underruns, 1);
  a.write(ramp(160, 160));
  a.write(ramp(320, 160));
  assert.equal(a.read(out), true);
  assert.equal(out[0], 160, 'the late packet is played, not dropped');
  assert.equal(a.read(out), true);
  assert.equal(out[0], 320);
});

test('FrameAligner trims slack that stays above one spare frame, and caps a burst', () => {
  const a = new FrameAligner(160, { windowTicks: 10, capFrames: 4 });
  const out = new Int16Array(160);
  a.write(ramp(0, 160 * 8));
  assert.equal(a.depth, 160 * 4, 'capped at 4 frames');
  assert.equal(a.droppedSamples, 160 * 4);
  // steady flow with 3 frames queued: after a window, all but one spare frame is given back
  for (let i = 0; i < 10; i++) {
    a.write(ramp(0, 160));
    a.read(out);
  }
  assert.equal(a.depth, 160, `depth ${a.depth / 160} frames after the trim`);
  // one spare frame is kept through further windows
  for (let i = 0; i < 30; i++) {
    a.write(ramp(0, 160));
    a.read(out);
  }
  assert.equal(a.depth, 160);
});
