import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { G722Codec, G722Decoder, G722Encoder } from '../../../src/media/codecs/g722.ts';
import { needs } from '../../helpers/peers.ts';

const SPEECH = '/usr/share/asterisk/sounds/en/demo-congrats.wav';

function ffmpeg(args: string[], input?: Uint8Array): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', ...args], { input, maxBuffer: 1 << 24 });
}
function asInt16(b: Buffer): Int16Array {
  const copy = new Uint8Array(b.length & ~1);
  copy.set(b.subarray(0, copy.length));
  return new Int16Array(copy.buffer);
}
/** Real speech at 16 kHz (first 8 s), plus a loud synthetic section that exercises the limiters. */
function testSignal(): Int16Array {
  const speech = asInt16(ffmpeg(['-i', SPEECH, '-t', '8', '-ar', '16000', '-ac', '1', '-f', 's16le', '-']));
  const extra = 16000;
  const pcm = new Int16Array(speech.length + extra);
  pcm.set(speech);
  let seed = 7;
  for (let i = 0; i < extra; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const v =
      20000 * Math.sin((2 * Math.PI * 440 * i) / 16000) +
      9000 * Math.sin((2 * Math.PI * 5200 * i) / 16000) +
      (seed / 0x7fffffff - 0.5) * 8000;
    pcm[speech.length + i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return pcm;
}
function snrDb(ref: Int16Array, out: Int16Array, delay: number, from: number): number {
  let s = 0;
  let e = 0;
  for (let i = from; i + delay < out.length && i < ref.length; i++) {
    s += ref[i]! ** 2;
    e += (ref[i]! - out[i + delay]!) ** 2;
  }
  return 10 * Math.log10(s / e);
}

test(
  'G722Encoder.encode() produces the same bitstream as ffmpeg on speech and loud tones',
  needs('ffmpeg', 'asterisk-sounds'),
  () => {
    const pcm = testSignal();
    const ours = new Uint8Array(pcm.length / 2);
    assert.equal(new G722Encoder().encode(pcm, ours), pcm.length / 2);
    const theirs = ffmpeg(
      ['-f', 's16le', '-ar', '16000', '-ac', '1', '-i', '-', '-c:a', 'g722', '-f', 'g722', '-'],
      new Uint8Array(pcm.buffer),
    );
    assert.equal(theirs.length, ours.length);
    let diffs = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) diffs++;
    assert.equal(diffs, 0, `${diffs} of ${ours.length} octets differ`);
  },
);

test(
  'G722Decoder.decode() output equals ffmpeg decoding our bitstream, and tracks the source',
  needs('ffmpeg', 'asterisk-sounds'),
  () => {
    const pcm = testSignal();
    const bits = new Uint8Array(pcm.length / 2);
    new G722Encoder().encode(pcm, bits);
    const ours = new Int16Array(pcm.length);
    assert.equal(new G722Decoder().decode(bits, ours), pcm.length);
    const theirs = asInt16(ffmpeg(['-f', 'g722', '-i', '-', '-f', 's16le', '-'], bits));
    assert.equal(theirs.length, ours.length);
    let diffs = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) diffs++;
    assert.equal(diffs, 0);
    // The two 24-tap QMFs delay the signal by 22 samples; speech SNR measured at 36 dB.
    const speechEnd = pcm.length - 16000;
    assert.ok(snrDb(pcm.subarray(0, speechEnd), ours, 22, 100) > 30);
    assert.ok(snrDb(pcm.subarray(0, speechEnd), ours, 21, 100) < snrDb(pcm.subarray(0, speechEnd), ours, 22, 100));
  },
);

test('G722Codec round trip of 20 ms frames keeps a 1 kHz sine above 40 dB SNR', () => {
  const codec = new G722Codec();
  assert.deepEqual([codec.name, codec.clockRate, codec.sampleRate, codec.payloadType], ['g722', 8000, 16000, 9]);
  const total = 16000;
  const src = new Int16Array(total);
  for (let i = 0; i < total; i++) src[i] = Math.round(10000 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
  const out = new Int16Array(total);
  const frame = new Uint8Array(160);
  const pcmFrame = new Int16Array(320);
  for (let off = 0; off < total; off += 320) {
    assert.equal(codec.encode(src.subarray(off, off + 320), frame), 160);
    assert.equal(codec.decode(frame, pcmFrame), 320);
    out.set(pcmFrame, off);
  }
  const snr = snrDb(src, out, 22, 1600);
  assert.ok(
    snr > 40, // measured 47 dB
    `snr ${snr.toFixed(1)} dB`,
  );
  // Frame-by-frame equals one-shot encoding: state carries across calls.
  const whole = new Uint8Array(total / 2);
  new G722Encoder().encode(src, whole);
  const frames = new Uint8Array(total / 2);
  const enc = new G722Encoder();
  for (let off = 0; off < total; off += 320) enc.encode(src.subarray(off, off + 320), frames.subarray(off / 2));
  assert.deepEqual(frames, whole);
  codec.close();
});

test('G722Encoder.reset() returns to the initial state', () => {
  const src = new Int16Array(320).map((_, i) => Math.round(5000 * Math.sin(i / 3)));
  const enc = new G722Encoder();
  const a = new Uint8Array(160);
  const b = new Uint8Array(160);
  enc.encode(src, a);
  enc.encode(src, b);
  assert.notDeepEqual(a, b);
  enc.reset();
  enc.encode(src, b);
  assert.deepEqual(a, b);
});
