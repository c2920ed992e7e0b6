import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointMediaConfig } from '../../../src/protocol/index.ts';
import { EndpointAudio } from '../../../src/media/engines/EndpointAudio.ts';
import type { Clocked, MediaClock } from '../../../src/media/engines/MediaClock.ts';
import type { RtpEndpoint } from '../../../src/media/transport/RtpEndpoint.ts';

function media(name: string, payloadType: number): EndpointMediaConfig {
  return {
    remote: { ip: '127.0.0.1', rtpPort: 40000, rtcpPort: 40001 },
    rtcpMux: false,
    codec: { name, payloadType, clockRate: 8000, channels: 1, ptime: 20, fmtp: {} },
    telephoneEvent: null,
    direction: 'sendrecv',
  };
}

class ManualClock {
  readonly subscribers = new Set<Clocked>();
  add(c: Clocked): void {
    this.subscribers.add(c);
  }
  delete(c: Clocked): void {
    this.subscribers.delete(c);
  }
  tick(nowMs: number): void {
    for (const c of [...this.subscribers]) c.onTick(nowMs);
  }
}

test('EndpointAudio taps never hear audio buffered before a codec renegotiation decoded with the new codec', () => {
  const endpoint = { media: media('pcmu', 0), eventPackets: 0, offloadChanged: () => {} };
  const clock = new ManualClock();
  const audio = new EndpointAudio(endpoint as unknown as RtpEndpoint, clock as unknown as MediaClock);
  let peak = 0;
  let frames = 0;
  audio.taps.add({
    onAudio: (pcm) => {
      frames++;
      for (const s of pcm) peak = Math.max(peak, Math.abs(s));
    },
  });
  let seq = 500;
  let now = 0;
  // Digital silence all along: mu-law 0xff, then (after a re-INVITE to PCMA) A-law 0xd5.
  const feed = (silence: number): void => {
    audio.onReceived(seq, seq * 160, new Uint8Array(160).fill(silence), now);
    clock.tick(now);
    seq++;
    now += 20;
  };
  for (let i = 0; i < 10; i++) feed(0xff);
  endpoint.media = media('pcma', 8);
  for (let i = 0; i < 10; i++) feed(0xd5);
  assert.ok(frames >= 15, `frames reached the tap (${frames})`);
  assert.ok(peak <= 8, `silence stays silence across the codec change (peak ${peak}; A-law 0xd5 is +8)`);
  audio.close();
});
