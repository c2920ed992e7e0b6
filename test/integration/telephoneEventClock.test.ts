import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

/**
 * baresip's default offer: Opus at 48 kHz with telephone-event at 8 kHz only. Key presses come as
 * RFC 4733 packets whose durations count 8 kHz units while their timestamps (and sequence
 * numbers) continue the Opus stream. Over real UDP: one endpoint.dtmf per press with its
 * duration read in the 8 kHz clock, no packet counted lost or dropped, MOS as on a call
 * without presses.
 */

let server: MediaServer;
const presses: ServerEvent[] = [];
const waiters: Array<() => void> = [];

before(async () => {
  server = await startServer({ SILENCE_FILL: 'cn' });
  server.events.subscribe((e) => {
    if (e.type !== 'endpoint.dtmf') return;
    presses.push(e);
    for (const w of waiters.splice(0)) w();
  });
});

after(async () => {
  await server.close();
});

function baresipOffer(peer: RtpPeer): string {
  return [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${peer.port} RTP/AVP 96 9 0 8 101`,
    'a=rtpmap:96 opus/48000/2',
    'a=fmtp:96 stereo=1;sprop-stereo=1',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    `a=rtcp:${peer.rtcpPort}`,
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** A 20 ms Opus frame of silence (CELT, fullband, one frame). */
const OPUS_SILENCE = Buffer.from([0xf8, 0xff, 0xfe]);

async function openPeer(t: TestContext): Promise<RtpPeer> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  return peer;
}

/** One RTP packet written here, independently of src/. */
function packet(pt: number, seq: number, ts: number, ssrc: number, payload: Uint8Array, marker = false): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  b.set(payload, 12);
  return b;
}

function eventPayload(code: number, end: boolean, duration8k: number): Buffer {
  return Buffer.from([code, (end ? 0x80 : 0) | 10, duration8k >>> 8, duration8k & 0xff]);
}

test("Opus with telephone-event/8000 (baresip's default offer): presses are read at 8 kHz and cost no loss", async (t) => {
  const peer = await openPeer(t);
  const ref = await openPeer(t);
  const ep = await server.createEndpoint({ remote_sdp: baresipOffer(peer) });
  t.after(() => server.deleteEndpoint(ep.id).catch(() => {}));
  const refEp = await server.createEndpoint({ remote_sdp: baresipOffer(ref) });
  t.after(() => server.deleteEndpoint(refEp.id).catch(() => {}));

  // The answer names what the endpoint accepts, nothing else: Opus and the event format offered.
  const mLine = ep.sdp.split('\r\n').find((l) => l.startsWith('m=audio'));
  assert.equal(mLine, `m=audio ${ep.rtp_port} RTP/AVP 96 101`);
  assert.match(ep.sdp, /a=rtpmap:101 telephone-event\/8000\r\n/);
  assert.deepEqual(ep.telephone_event, { payload_type: 101, clock_rate: 8000 });

  // 2 s of Opus, 20 ms apart; three presses of 100 ms (5 update packets + 3 end packets each,
  // sequence numbers shared with the audio, timestamps on the 48 kHz timeline) on `peer` only.
  const digits = ['1', '5', '9'];
  const pressAt = new Map([
    [20, 0],
    [45, 1],
    [70, 2],
  ]);
  let seq = 4000;
  let refSeq = 4000;
  let ts = 960_000;
  const start = performance.now();
  for (let frame = 0; frame < 100; frame++) {
    const wait = frame * 20 - (performance.now() - start);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    peer.sendRaw(ep.rtp_port, packet(96, seq++, ts, peer.ssrc, OPUS_SILENCE));
    ref.sendRaw(refEp.rtp_port, packet(96, refSeq++, ts, ref.ssrc, OPUS_SILENCE));
    const press = pressAt.get(frame);
    if (press !== undefined) {
      const code = Number(digits[press]);
      const eventTs = ts + 960;
      for (let i = 1; i <= 5; i++) {
        peer.sendRaw(ep.rtp_port, packet(101, seq++, eventTs, peer.ssrc, eventPayload(code, false, 160 * i), i === 1));
      }
      for (let i = 0; i < 3; i++)
        peer.sendRaw(ep.rtp_port, packet(101, seq++, eventTs, peer.ssrc, eventPayload(code, true, 800)));
    }
    ts += 960;
  }

  const mine = (): ServerEvent[] => presses.filter((e) => e.endpoint_id === ep.id);
  const deadline = performance.now() + 5000;
  while (mine().length < digits.length && performance.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadline - performance.now());
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  assert.deepEqual(
    mine().map((e) => e.digit),
    digits,
    'one endpoint.dtmf per press',
  );
  // 800 units of the 8 kHz event clock are 100 ms (read at 48 kHz they would be 16.7 ms).
  for (const e of mine()) assert.equal(Number(e.duration_ms), 100);

  // Stats once the last packets are in (the endpoint counted every packet we sent).
  const sent = 100 + digits.length * 8;
  let info = await server.getEndpoint(ep.id);
  for (let i = 0; i < 50 && info.stats.packets_received < sent; i++) {
    await new Promise((r) => setTimeout(r, 20));
    info = await server.getEndpoint(ep.id);
  }
  const refInfo = await server.getEndpoint(refEp.id);
  assert.equal(info.stats.packets_received, sent);
  assert.equal(info.stats.packets_lost, 0);
  assert.deepEqual(info.stats.dropped, {});
  // The same audio schedule without presses: the presses change nothing in the quality figure.
  assert.ok(
    Math.abs(info.stats.mos - refInfo.stats.mos) <= 0.05,
    `MOS ${info.stats.mos} with presses, ${refInfo.stats.mos} without`,
  );
});

test('RFC 4733 presses we send to an Opus peer with telephone-event/8000 count durations at 8 kHz', async (t) => {
  const peer = await openPeer(t);
  const ep = await server.createEndpoint({ remote_sdp: baresipOffer(peer) });
  t.after(() => server.deleteEndpoint(ep.id).catch(() => {}));
  const result = await server.dtmf.send(ep.id, '7', { durationMs: 120 });
  assert.equal(result.method, 'rfc4733');
  const ends = (): number => peer.received.filter((p) => p.pt === 101 && (p.payload[1]! & 0x80) !== 0).length;
  while (ends() < 3) await peer.waitFor(peer.received.length + 1, 5000);
  const events = peer.received.filter((p) => p.pt === 101);
  assert.ok(events.every((p) => p.payload[0] === 7 && p.ts === events[0]!.ts));
  // 120 ms at the peer's 8 kHz event clock: 960 units (at the 48 kHz codec clock it would be 5760).
  assert.equal(events.at(-1)!.payload.readUInt16BE(2), 960);
});
