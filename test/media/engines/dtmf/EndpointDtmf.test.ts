import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointDtmf, type DtmfCounters } from '../../../../src/media/engines/dtmf/EndpointDtmf.ts';
import type { EndpointAudio } from '../../../../src/media/engines/EndpointAudio.ts';
import { MediaClock } from '../../../../src/media/engines/MediaClock.ts';
import { RtpSender } from '../../../../src/media/transport/RtpSender.ts';
import type { RtpEndpoint } from '../../../../src/media/transport/RtpEndpoint.ts';

test('EndpointDtmf.sendEvents(): a clock catching up several ticks at once sends distinct packets (dgram reads each buffer later)', async (t) => {
  // What the socket would send: dgram.send() reads the bytes on a later tick, so keep the buffer
  // handed over and read it only after the ticks, as the socket does.
  const handed: Uint8Array[] = [];
  const endpoint = {
    id: 'ep',
    media: { telephoneEvent: { payloadType: 101, clockRate: 8000 }, codec: { clockRate: 8000, ptime: 20 } },
    sender: new RtpSender(8000, 160),
    onEventPacket: null,
    sink: null,
    send(buf: Uint8Array) {
      handed.push(buf);
      return true;
    },
  } as unknown as RtpEndpoint;
  const clock = new MediaClock();
  t.after(() => clock.close());
  const counters: DtmfCounters = {
    rfc4733Digits: 0,
    inbandDigits: 0,
    suppressed: 0,
    sentRfc4733: 0,
    sentInband: 0,
    eventPacketsSent: 0,
  };
  const dtmf = new EndpointDtmf(
    endpoint,
    () => ({}) as EndpointAudio,
    clock,
    counters,
    () => {},
    'off',
  );
  t.after(() => dtmf.close());
  const sent = dtmf.sendEvents('5', 100);
  // five ticks in one turn of the event loop, as MediaClock runs them after a stall
  for (let i = 0; i < 5; i++) dtmf.onTick(1000 + 20 * i);
  const seqs = handed.map((b) => (b[2]! << 8) | b[3]!);
  assert.ok(seqs.length >= 2, `${seqs.length} packets`);
  assert.equal(new Set(seqs).size, seqs.length, `sequence numbers on the wire: ${seqs.join(', ')}`);
  dtmf.stopSending();
  await sent.catch(() => undefined);
});
