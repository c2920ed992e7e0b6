import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_WAIT_MS, TimelineChannel } from '../../../../src/media/engines/recording/TimelineChannel.ts';

/** A 20 ms frame at 8 kHz whose samples are `base + i`, so each sample says where it came from. */
function chunk(base: number): Int16Array {
  const f = new Int16Array(160);
  for (let i = 0; i < 160; i++) f[i] = base + i;
  return f;
}

/** Reads every frame ready at `nowMs`. */
function readReady(ch: TimelineChannel, nowMs: number, frames: Int16Array[], from: { n: number }): void {
  for (;;) {
    const end = (from.n + 1) * ch.frameSamples;
    if (!ch.ready(end, nowMs)) return;
    const f = new Int16Array(ch.frameSamples);
    ch.read(f);
    frames.push(f);
    from.n++;
  }
}

test('TimelineChannel places a jittery stream by timestamp: nothing inserted or dropped', () => {
  const ch = new TimelineChannel(8000, 'stream');
  ch.start(0);
  const frames: Int16Array[] = [];
  const pos = { n: 0 };
  // frame k (position 160k) arrives 20k + jitter ms, jitter up to 150 ms and back
  const jitter = [0, 5, 40, 150, 130, 110, 20, 0, 0, 90, 70, 50, 30, 10, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < jitter.length; k++) {
    const arrival = 20 + 20 * k + jitter[k]!;
    ch.writeStream(chunk(k * 100), 8000, arrival, k * 160, 1);
    readReady(ch, arrival, frames, pos);
  }
  readReady(ch, 2000 + STREAM_WAIT_MS, frames, pos);
  const out = Int16Array.from(frames.flatMap((f) => [...f]));
  const first = out.indexOf(0 * 100 + 1) - 1;
  assert.ok(first >= 0);
  for (let k = 0; k < jitter.length; k++) {
    for (let i = 0; i < 160; i += 40) assert.equal(out[first + k * 160 + i], k * 100 + i, `frame ${k} sample ${i}`);
  }
  assert.equal(ch.rebased, 0);
  assert.equal(ch.droppedSamples, 0);
});

test('TimelineChannel waits for a stream, then writes its silence once it stayed away STREAM_WAIT_MS', () => {
  const ch = new TimelineChannel(8000, 'stream');
  ch.start(0);
  ch.writeStream(chunk(1), 8000, 40, 0, 1);
  assert.ok(ch.ready(160, 40));
  assert.ok(!ch.ready(ch.written + 160, 100), 'the next frame is waited for');
  assert.ok(ch.ready(ch.written + 160, 60 + STREAM_WAIT_MS + 20), 'paused: silence is final');
  const clock = new TimelineChannel(8000, 'clock');
  clock.start(0);
  assert.ok(clock.ready(160, 20) && !clock.ready(320, 20), 'a clock channel is final once its tick passed');
});

test('TimelineChannel keeps a DTX gap at its timestamp length and re-bases a new sender after what was written', () => {
  const ch = new TimelineChannel(8000, 'stream');
  ch.start(0);
  ch.writeStream(chunk(1), 8000, 20, 0, 1);
  const at0 = ch.written - 160;
  // 1 s of DTX: the next packet's timestamp says 1 s later, and it arrives then
  ch.writeStream(chunk(2), 8000, 1020, 8000, 1);
  assert.equal(ch.written - 160, at0 + 8000);
  // a new SSRC (epoch) with unrelated timestamps: placed where it arrived, after what was written
  ch.writeStream(chunk(3), 8000, 1040, 123456, 2);
  assert.equal(ch.written, at0 + 8000 + 320);
  assert.equal(ch.rebased, 1);
});
