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
    } catch {
      /* taken: next pair */
    }
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

const tone: FrameSource = {
  fill: (out) => {
    out.fill(1000);
    return out.length;
  },
};

interface Received {
  seq: number;
  ts: number;
  marker: boolean;
}

async function receive(sock: dgram.Socket): Promise<Received> {
  const [msg] = (await once(sock, 'message')) as [Buffer];
  return { seq: msg.readUInt16BE(2), ts: msg.readUInt32BE(4), marker: (msg[1]! & 0x80) !== 0 };
}

test('RtpEndpoint.configure() back from hold re-bases the generated stream on the time on hold (RFC 3550 5.1)', async (t) => {
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    peer.close();
  });
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
  t.after(() => {
    ep.close();
    peer.close();
  });
  const peerPort = peer.address().port;
  ep.configure(media(peerPort, 'sendrecv'), 0);
  const packet = (seq: number, ts: number): Uint8Array => {
    const b = new Uint8Array(172);
    b[0] = 0x80;
    b[2] = seq >>> 8;
    b[3] = seq & 0xff;
    new DataView(b.buffer).setUint32(4, ts);
    return b;
  };
  const source = 0x1234;
  assert.equal(ep.sendRelayed(packet(100, 16000), 172, source, 100, 16000, 0), true);
  const first = await receive(peer);
  ep.configure(media(peerPort, 'recvonly'), 20);
  // 50 packets of the bridge peer arrive while we are on hold (recvonly): none goes out.
  for (let i = 1; i <= 50; i++)
    assert.equal(
      ep.sendRelayed(packet(100 + i, 16000 + 160 * i), 172, source, 100 + i, 16000 + 160 * i, 20 * i),
      false,
    );
  ep.configure(media(peerPort, 'sendrecv'), 1010);
  assert.equal(ep.sendRelayed(packet(151, 16000 + 160 * 51), 172, source, 151, 16000 + 160 * 51, 1020), true);
  const resumed = await receive(peer);
  assert.equal(seqDiff(resumed.seq, first.seq), 1, 'no 50-packet hole the peer would count as loss');
  assert.equal(tsDiff(resumed.ts, first.ts), 8160);
  assert.equal(resumed.marker, true);
});

test('RtpEndpoint.configure() sends RTCP to the new port when a re-offer changes only a=rtcp (RFC 3605)', {
  timeout: 5000,
}, async (t) => {
  const rtcpOld = dgram.createSocket('udp4');
  const rtcpNew = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => rtcpOld.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => rtcpNew.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    rtcpOld.close();
    rtcpNew.close();
  });
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

test('RtpEndpoint after a re-INVITE to a new address does not latch onto a late packet of the previous peer', {
  timeout: 5000,
}, async (t) => {
  const x = dgram.createSocket('udp4');
  const y = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => x.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => y.bind(0, '127.0.0.1', resolve));
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    x.close();
    y.close();
  });
  const rtp = (seq: number): Buffer => {
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(0xabc, 8);
    return b;
  };
  const arrived = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const poll = (): void => {
        if (ep.packetsReceived + ep.drops.reduce((s, v) => s + v, 0) >= n) resolve();
        else setImmediate(poll);
      };
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
  assert.equal(ep.packetsReceived, 2, "the new peer's media is accepted, the old peer's late packet is not");
});

// ---- latching (learning probation, like Asterisk's strictrtp=seqno) ----------------------------

async function udpPeer(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

function rtpPacket(seq: number, fill: number): Buffer {
  const b = Buffer.alloc(172, fill);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0xabc, 8);
  return b;
}

/** Resolves once the datagram is handed to the kernel, so sends from several sockets keep their order. */
function sendTo(sock: dgram.Socket, buf: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => sock.send(buf, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

/** Polls `cond` on every turn of the event loop (each received datagram is one), for up to 3 s. */
function until(cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 3000;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (cond()) resolve();
      else if (performance.now() > deadline) reject(new Error('condition not reached'));
      else setImmediate(poll);
    };
    poll();
  });
}

function drop(ep: RtpEndpoint, reason: string): number {
  return (ep.stats().dropped as Record<string, number>)[reason] ?? 0;
}

/** Records the sequence numbers the endpoint delivers to its sink. */
function sinkOf(ep: RtpEndpoint): number[] {
  const seqs: number[] = [];
  ep.sink = {
    onPacket: (_b, _o, _l, _e, seq) => {
      seqs.push(seq);
    },
  };
  return seqs;
}

test('RtpEndpoint: a foreign source sending a few packets first does not take the leg; the peer behind NAT latches after 4 in-sequence packets, none lost', {
  timeout: 5000,
}, async (t) => {
  const sdpPeer = await udpPeer(); // the address in the SDP: nobody sends from it (NAT)
  const nat = await udpPeer();
  const foreign = await udpPeer();
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    sdpPeer.close();
    nat.close();
    foreign.close();
  });
  const delivered = sinkOf(ep);
  const latched: number[] = [];
  ep.listener = {
    onMediaTimeout() {},
    onBye() {},
    onRemoteLatched: (_ep, _ip, port) => {
      latched.push(port);
    },
  };
  ep.configure(media(sdpPeer.address().port, 'sendrecv'), 0);

  // Random sequence numbers, as a scanner or a stray stream would send.
  for (const seq of [17, 40_000, 9]) await sendTo(foreign, rtpPacket(seq, 0xee), ep.rtpPort);
  for (let seq = 500; seq < 504; seq++) await sendTo(nat, rtpPacket(seq, 0x11), ep.rtpPort);
  await until(() => ep.packetsReceived === 4);
  assert.equal(ep.remote?.rtpPort, nat.address().port, 'the real peer took the leg');
  assert.deepEqual(latched, [nat.address().port], 'endpoint.remote_latched once, for the actual latch');
  assert.deepEqual(delivered, [500, 501, 502, 503], 'the probation packets are delivered, in order');
  assert.equal(drop(ep, 'unlatched_source'), 3, 'the foreign packets are counted');

  // Locked now: the foreign source is refused even with a perfect sequence.
  for (let seq = 10; seq < 20; seq++) await sendTo(foreign, rtpPacket(seq, 0xee), ep.rtpPort);
  await sendTo(nat, rtpPacket(504, 0x11), ep.rtpPort);
  await until(() => ep.packetsReceived === 5);
  assert.equal(drop(ep, 'source_mismatch'), 10);
  assert.equal(ep.remote?.rtpPort, nat.address().port);
});

test('RtpEndpoint: a source that breaks its sequence before 4 packets never latches', { timeout: 5000 }, async (t) => {
  const sdpPeer = await udpPeer();
  const foreign = await udpPeer();
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    sdpPeer.close();
    foreign.close();
  });
  ep.configure(media(sdpPeer.address().port, 'sendrecv'), 0);
  // Runs of three, over and over: never four consecutive.
  for (let run = 0; run < 5; run++)
    for (let i = 0; i < 3; i++) await sendTo(foreign, rtpPacket(run * 100 + i, 0xee), ep.rtpPort);
  // The SDP's own address is trusted at its first packet, and ends the foreign candidate.
  await sendTo(sdpPeer, rtpPacket(7, 0x22), ep.rtpPort);
  await until(() => ep.packetsReceived === 1);
  assert.equal(ep.remote?.rtpPort, sdpPeer.address().port);
  assert.equal(drop(ep, 'unlatched_source'), 15);
});

test('RtpEndpoint re-learns only after a new SDP moves the remote address', { timeout: 5000 }, async (t) => {
  const sdp1 = await udpPeer();
  const nat1 = await udpPeer();
  const sdp2 = await udpPeer();
  const nat2 = await udpPeer();
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    sdp1.close();
    nat1.close();
    sdp2.close();
    nat2.close();
  });
  ep.configure(media(sdp1.address().port, 'sendrecv'), 0);
  for (let seq = 1; seq <= 4; seq++) await sendTo(nat1, rtpPacket(seq, 1), ep.rtpPort);
  await until(() => ep.packetsReceived === 4);
  assert.equal(ep.remote?.rtpPort, nat1.address().port);
  // A new source, however well behaved, cannot move a locked leg without signalling.
  for (let seq = 1; seq <= 8; seq++) await sendTo(nat2, rtpPacket(seq, 2), ep.rtpPort);
  await sendTo(nat1, rtpPacket(5, 1), ep.rtpPort);
  await until(() => ep.packetsReceived === 5);
  assert.equal(ep.remote?.rtpPort, nat1.address().port);
  // The re-INVITE (transfer) names another peer: learning starts again.
  ep.configure(media(sdp2.address().port, 'sendrecv'), 100);
  for (let seq = 20; seq < 24; seq++) await sendTo(nat2, rtpPacket(seq, 2), ep.rtpPort);
  await until(() => ep.packetsReceived === 9);
  assert.equal(ep.remote?.rtpPort, nat2.address().port);
});

test('RtpEndpoint with latchPackets 1 latches on the first packet (the previous behaviour, for RTP_LATCH_PACKETS=1)', {
  timeout: 5000,
}, async (t) => {
  const sdpPeer = await udpPeer();
  const nat = await udpPeer();
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    sdpPeer.close();
    nat.close();
  });
  ep.latchPackets = 1;
  ep.configure(media(sdpPeer.address().port, 'sendrecv'), 0);
  await sendTo(nat, rtpPacket(9, 1), ep.rtpPort);
  await until(() => ep.packetsReceived === 1);
  assert.equal(ep.remote?.rtpPort, nat.address().port);
});

test('RtpEndpoint takes RTCP from elsewhere than the SDP only from the host RTP latched onto', {
  timeout: 5000,
}, async (t) => {
  const sdpPeer = await udpPeer();
  const foreign = await udpPeer();
  const ep = await openEndpoint();
  t.after(() => {
    ep.close();
    sdpPeer.close();
    foreign.close();
  });
  ep.configure(media(sdpPeer.address().port, 'sendrecv'), 0);
  // A receiver report (RFC 3550 6.4.2) with no report blocks.
  const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0x0a, 0xbc]);
  await sendTo(foreign, rr, ep.rtcpPort);
  await until(() => drop(ep, 'unlatched_source') === 1);
  assert.equal(ep.remote?.rtcpPort, sdpPeer.address().port + 1, 'RTCP still goes where the SDP says');
});
