import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Direction, EndpointMediaConfig } from '../../../src/protocol/index.ts';
import { seqDiff, tsDiff } from '../../../src/common/seq.ts';
import { EndpointAudio, type FrameSource } from '../../../src/media/engines/EndpointAudio.ts';
import type { MediaClock } from '../../../src/media/engines/MediaClock.ts';
import { RtpEndpoint } from '../../../src/media/transport/RtpEndpoint.ts';

let nextPort = 30000 + ((process.pid * 13) % 20000);
nextPort -= nextPort % 2;

async function openEndpoint(): Promise<RtpEndpoint> {
  for (let i = 0; i < 50; i++) {
    const port = nextPort;
    nextPort += 2;
    try {
      return await RtpEndpoint.open('ep', '127.0.0.1', port, port + 1, 0, 'ep@test');
    } catch { /* taken: next pair */ }
  }
  throw new Error('no free port pair');
}

function media(peerPort: number, direction: Direction, rtcpPort = peerPort + 1): EndpointMediaConfig {
  return {
    remote: { ip: '127.0.0.1', rtpPort: peerPort, rtcpPort },
    rtcpMux: false,
    codec: { name: 'pcmu', payloadType: 0, clockRate: 8000, channels: 1, ptime: 20, fmtp: {} },
    telephoneEvent: null,
    direction,
  };
}

/** A clock that never ticks by itself: the test calls tick() with the times it wants. */
const manualClock = { add() {}, delete() {} } as unknown as MediaClock;

const tone: FrameSource = { fill: (out) => { out.fill(1000); return out.length; } };

interface Received { seq: number; ts: number; marker: boolean }

async function receive(sock: dgram.Socket): Promise<Received> {
  const [msg] = (await once(sock, 'message')) as [Buffer];
  return { seq: msg.readUInt16BE(2), ts: msg.readUInt32BE(4), marker: (msg[1]! & 0x80) !== 0 };
}

test('RtpEndpoint.configure() back from hold re-bases the generated stream on the time on hold (RFC 3550 5.1)', async (t) => {
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => { ep.close(); peer.close(); });
  const peerPort = peer.address().port;
  ep.configure(media(peerPort, 'sendrecv'), 0);
  const audio = new EndpointAudio(ep, manualClock);
  audio.setSource(tone);
  audio.tick(0);
  const first = await receive(peer);
  audio.tick(20);
  const second = await receive(peer);
  assert.equal(tsDiff(second.ts, first.ts), 160);
  assert.equal(second.marker, false);

  // One second on hold: the player keeps running, nothing goes out.
  ep.configure(media(peerPort, 'inactive'), 40);
  for (let now = 40; now < 1040; now += 20) audio.tick(now);
  ep.configure(media(peerPort, 'sendrecv'), 1040);
  audio.tick(1040);
  const resumed = await receive(peer);
  assert.equal(seqDiff(resumed.seq, second.seq), 1, 'sequence numbers continue');
  assert.equal(tsDiff(resumed.ts, second.ts), 8160, 'timestamp advanced by the 1020 ms since the last packet');
  assert.equal(resumed.marker, true, 'marker flags the jump');
});

test('RtpEndpoint.sendRelayed() back from hold continues the sequence without a gap of the packets not sent', async (t) => {
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => { ep.close(); peer.close(); });
  const peerPort = peer.address().port;
  ep.configure(media(peerPort, 'sendrecv'), 0);
  const packet = (seq: number, ts: number): Uint8Array => {
    const b = new Uint8Array(172);
    b[0] = 0x80;
    b[2] = seq >>> 8; b[3] = seq & 0xff;
    new DataView(b.buffer).setUint32(4, ts);
    return b;
  };
  const source = 0x1234;
  assert.equal(ep.sendRelayed(packet(100, 16000), 172, source, 100, 16000, 0), true);
  const first = await receive(peer);
  ep.configure(media(peerPort, 'recvonly'), 20);
  // 50 packets of the bridge peer arrive while we are on hold (recvonly): none goes out.
  for (let i = 1; i <= 50; i++) assert.equal(ep.sendRelayed(packet(100 + i, 16000 + 160 * i), 172, source, 100 + i, 16000 + 160 * i, 20 * i), false);
  ep.configure(media(peerPort, 'sendrecv'), 1010);
  assert.equal(ep.sendRelayed(packet(151, 16000 + 160 * 51), 172, source, 151, 16000 + 160 * 51, 1020), true);
  const resumed = await receive(peer);
  assert.equal(seqDiff(resumed.seq, first.seq), 1, 'no 50-packet hole the peer would count as loss');
  assert.equal(tsDiff(resumed.ts, first.ts), 8160);
  assert.equal(resumed.marker, true);
});

test('RtpEndpoint.configure() sends RTCP to the new port when a re-offer changes only a=rtcp (RFC 3605)', { timeout: 5000 }, async (t) => {
  const rtcpOld = dgram.createSocket('udp4');
  const rtcpNew = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => rtcpOld.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => rtcpNew.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => { ep.close(); rtcpOld.close(); rtcpNew.close(); });
  const rtpPort = 40000;
  ep.configure(media(rtpPort, 'sendrecv', rtcpOld.address().port), 0);
  ep.tick(0); // schedules the first report
  ep.tick(10_000);
  await once(rtcpOld, 'message');
  ep.configure(media(rtpPort, 'sendrecv', rtcpNew.address().port), 10_000);
  ep.tick(20_000);
  await once(rtcpNew, 'message');
  assert.equal(ep.remote?.rtcpPort, rtcpNew.address().port);
});

test('RtpEndpoint after a re-INVITE to a new address does not latch onto a late packet of the previous peer', { timeout: 5000 }, async (t) => {
  const x = dgram.createSocket('udp4');
  const y = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => x.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => y.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => { ep.close(); x.close(); y.close(); });
  const rtp = (seq: number): Buffer => {
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(0xabc, 8);
    return b;
  };
  const arrived = (n: number): Promise<void> => new Promise((resolve) => {
    const poll = (): void => { if (ep.packetsReceived + ep.drops.reduce((s, v) => s + v, 0) >= n) resolve(); else setImmediate(poll); };
    poll();
  });
  ep.configure(media(x.address().port, 'sendrecv'), 0);
  x.send(rtp(1), ep.rtpPort, '127.0.0.1');
  await arrived(1);
  // Transfer: the b2bua re-INVITEs us to peer y; x's last packet is still in flight.
  ep.configure(media(y.address().port, 'sendrecv'), 20);
  x.send(rtp(2), ep.rtpPort, '127.0.0.1');
  await arrived(2);
  y.send(rtp(100), ep.rtpPort, '127.0.0.1');
  await arrived(3);
  assert.equal(ep.remote?.rtpPort, y.address().port, 'we send to the new peer');
  assert.equal(ep.packetsReceived, 2, 'the new peer\'s media is accepted, the old peer\'s late packet is not');
});
