import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapacityError, NotFoundError, UnsupportedError, ValidationError } from '../../src/common/errors.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/** Independent G.711 mu-law -> A-law via linear (the G.191 reference algorithms, simplified). */
function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}
function linearToAlaw(pcm: number): number {
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const segEnd = [0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff, 0x3fff, 0x7fff];
  pcm >>= 3;
  let seg = 0;
  while (seg < 8 && pcm > segEnd[seg]! >> 3) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  let aval = seg << 4;
  aval |= seg < 2 ? (pcm >> 1) & 0x0f : (pcm >> seg) & 0x0f;
  return aval ^ mask;
}

function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

test('MediaServer.createEndpoint() answers an offer and bridges two legs, relaying without decoding', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });

  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']) });
  const b = await server.createEndpoint({ remote_sdp: pb.offer(['pcmu']) });
  assert.equal(a.state, 'active');
  assert.match(a.sdp, /m=audio \d+ RTP\/AVP 0 101/);
  assert.equal(a.codec?.name, 'pcmu');
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.mode, 'relay');

  const sent: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const p = payload(160, i);
    sent.push(p);
    pa.send(a.rtp_port, p, 0);
  }
  await pb.waitFor(50);
  const got = pb.received;
  assert.deepEqual(
    got.map((r) => r.payload),
    sent,
    'payloads arrive unchanged and in order',
  );
  assert.equal(new Set(got.map((r) => r.ssrc)).size, 1, 'one SSRC on the outbound stream');
  assert.notEqual(got[0]!.ssrc, pa.ssrc, "the SSRC is the server leg's own");
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, 'sequence continues');
    assert.equal((got[i]!.ts - got[i - 1]!.ts) >>> 0, 160, 'timestamp advances by one frame');
  }
  assert.equal(got[0]!.marker, true, 'the first packet of a new source carries the marker');
  assert.equal(got[0]!.from.port, b.rtp_port, "sent from the leg's own RTP port (symmetric RTP)");

  const info = await server.getEndpoint(a.id);
  assert.equal(info.stats.packets_received, 50);
  assert.equal(info.bridge_id, bridge.id);
  assert.equal((await server.getEndpoint(b.id)).stats.packets_sent, 50);
});

test('MediaServer keeps the outbound stream continuous across re-bridging', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb, pc] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
    pc.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() });
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  const c = await server.createEndpoint({ remote_sdp: pc.offer() });

  const ab = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  for (let i = 0; i < 10; i++) pa.send(a.rtp_port, payload(160, i));
  await pb.waitFor(10);
  await server.deleteBridge(ab.id);
  await server.createBridge({ endpoint_a: c.id, endpoint_b: b.id });
  for (let i = 0; i < 10; i++) pc.send(c.rtp_port, payload(160, 100 + i));
  await pb.waitFor(20);

  const got = pb.received;
  assert.equal(new Set(got.map((r) => r.ssrc)).size, 1, 'SSRC unchanged across sources');
  for (let i = 1; i < 20; i++) assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, `sequence continues at ${i}`);
  assert.equal(got[10]!.marker, true, 'marker on the switch');
  assert.ok((got[10]!.ts - got[9]!.ts) >>> 0 >= 160, 'timestamp moves forward across the switch');
  assert.ok((got[10]!.ts - got[9]!.ts) >>> 0 < 8000 * 5, 'by about the elapsed time');
});

test('MediaServer transcodes PCMU to PCMA through a bridge', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']) });
  const b = await server.createEndpoint({ remote_sdp: pb.offer(['pcma']) });
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.mode, 'transcode');
  const p = payload(160, 3);
  pa.send(a.rtp_port, p, 0);
  await pb.waitFor(1);
  assert.equal(pb.received[0]!.pt, 8);
  const expected = Buffer.from([...p].map((u) => linearToAlaw(ulawToLinear(u))));
  assert.deepEqual(pb.received[0]!.payload, expected);
});

test('MediaServer maps telephone-event payload types between legs', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']) });
  const b = await server.createEndpoint({
    remote_sdp: pb.offer(['pcmu']).replaceAll(' 101', ' 96').replace('101 telephone', '96 telephone'),
  });
  assert.equal(b.telephone_event?.payload_type, 96);
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  pa.send(a.rtp_port, Buffer.from([5, 0x0a, 0x00, 0xa0]), 101, { marker: true, samples: 0 });
  await pb.waitFor(1);
  assert.equal(pb.received[0]!.pt, 96);
  assert.deepEqual([...pb.received[0]!.payload], [5, 0x0a, 0x00, 0xa0]);
});

/** `peer`'s offer with CN (RFC 3389) at 8000 Hz as payload type 13. */
function offerWithCn(peer: RtpPeer): string {
  return peer
    .offer(['pcmu'])
    .replace('RTP/AVP 0 101', 'RTP/AVP 0 13 101')
    .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000');
}

test('MediaServer relays comfort noise (RFC 3389) between legs that both answered CN: no gap in the sequence, no silence on the wire', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: offerWithCn(pa) });
  const b = await server.createEndpoint({ remote_sdp: offerWithCn(pb) });
  assert.match(a.sdp, /a=rtpmap:13 CN\/8000/, 'CN is answered');
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.mode, 'relay');
  // a talkspurt, the peer's silence (one SID packet covering 200 ms), another talkspurt
  for (let i = 0; i < 5; i++) pa.send(a.rtp_port, payload(160, i), 0);
  pa.send(a.rtp_port, Buffer.from([60]), 13, { samples: 1600 });
  for (let i = 0; i < 5; i++) pa.send(a.rtp_port, payload(160, i), 0, { marker: i === 0 });
  await pb.waitFor(11);
  const got = pb.received;
  assert.deepEqual(
    got.map((r) => r.pt),
    [0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0],
    'the CN packet is passed on in its place',
  );
  assert.deepEqual([...got[5]!.payload], [60], 'with its noise level');
  for (let i = 1; i < got.length; i++)
    assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, 'no gap the peer would count as loss');
  assert.equal((got[6]!.ts - got[5]!.ts) >>> 0, 1600, 'the silence keeps its length on the timeline');
  assert.equal((await server.getEndpoint(b.id)).stats.packets_sent, 11);
});

test('MediaServer relaying to a leg without CN leaves no sequence gap where a comfort noise packet was dropped; the talkspurt after it is marked', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: offerWithCn(pa) });
  const b = await server.createEndpoint({ remote_sdp: pb.offer(['pcmu']) });
  assert.doesNotMatch(b.sdp, /CN\/8000/);
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  for (let i = 0; i < 5; i++) pa.send(a.rtp_port, payload(160, i), 0);
  pa.send(a.rtp_port, Buffer.from([60]), 13, { samples: 1600 });
  for (let i = 0; i < 5; i++) pa.send(a.rtp_port, payload(160, i), 0, { marker: i === 0 });
  await pb.waitFor(10);
  const got = pb.received;
  assert.deepEqual(
    got.map((r) => r.pt),
    new Array(10).fill(0),
    'only audio reaches a leg that has no CN',
  );
  for (let i = 1; i < got.length; i++)
    assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff, 'no gap the peer would count as loss');
  assert.equal(got[5]!.marker, true, 'the talkspurt after the silence starts with the marker');
});

test('MediaServer locks the remote source and counts injected and malformed packets', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb, attacker] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
    attacker.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() });
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  pa.send(a.rtp_port, payload(160, 1));
  await pb.waitFor(1);
  for (let i = 0; i < 5; i++) attacker.send(a.rtp_port, payload(160, 9));
  attacker.sendRaw(a.rtp_port, Buffer.from([0x40, 0, 0, 1])); // too short
  attacker.sendRaw(a.rtp_port, Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2])); // CSRC count past the end
  pa.sendRaw(a.rtp_port, Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2])); // version 1
  pa.send(a.rtp_port, payload(160, 2), 18); // payload type not negotiated
  pa.send(a.rtp_port, payload(160, 3));
  await pb.waitFor(2);
  const stats = (await server.getEndpoint(a.id)).stats;
  assert.equal(stats.dropped.source_mismatch, 5);
  assert.equal(stats.dropped.malformed_too_short, 1);
  assert.equal(stats.dropped.malformed_csrc_overflow, 1);
  assert.equal(stats.dropped.malformed_bad_version, 1);
  assert.equal(stats.dropped.unknown_payload_type, 1);
  assert.equal(pb.received.length, 2, 'only the genuine packets were relayed');
  const metrics = await server.metrics();
  assert.match(metrics.body, /msc_rtp_packets_dropped_total\{worker="0",reason="source_mismatch"\} 5/);
});

test('MediaServer latches the remote address after 4 in-sequence packets from elsewhere (NAT), relaying all of them', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, nat, pb] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    nat.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() }); // SDP says pa's port...
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  const latched = nextEvent(server, 'endpoint.remote_latched');
  for (let i = 0; i < 4; i++) nat.send(a.rtp_port, payload(160, i)); // ...but media comes from another port
  const ev = await latched;
  assert.equal(ev.port, nat.port);
  await pb.waitFor(4);
  assert.deepEqual(
    pb.received.map((p) => p.payload),
    [0, 1, 2, 3].map((i) => payload(160, i)),
    'none lost to the probation',
  );
  pb.send(b.rtp_port, payload(160, 9));
  await nat.waitFor(1); // and media for A now goes to where A really is
  assert.equal(pa.received.length, 0);
});

test('MediaServer.createEndpoint() without SDP offers, and PATCH with the answer activates it', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ codecs: ['pcma', 'pcmu'] });
  assert.equal(ep.state, 'offered');
  assert.match(ep.sdp, /m=audio \d+ RTP\/AVP 8 0/);
  const updated = await server.updateEndpoint(ep.id, { remote_sdp: peer.offer(['pcma']) });
  assert.equal(updated.state, 'active');
  assert.equal(updated.codec?.name, 'pcma');
  assert.equal(updated.remote?.rtp_port, peer.port);
  const held = await server.updateEndpoint(ep.id, { remote_sdp: peer.offer(['pcma'], { direction: 'sendonly' }) });
  assert.equal(held.direction, 'recvonly', 're-INVITE putting us on hold');
});

test('MediaServer re-offers (hold) with the codec in use only, as its answers name one codec', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ codecs: ['pcma', 'pcmu', 'telephone-event'] });
  assert.match(ep.sdp, /m=audio \d+ RTP\/AVP 8 0 96\r\n/);
  // The peer answers with both codecs: we send the first; a re-offer names only it.
  const answer = peer.offer(['pcma', 'pcmu']);
  await server.updateEndpoint(ep.id, { remote_sdp: answer });
  const held = await server.updateEndpoint(ep.id, { direction: 'sendonly' });
  assert.match(held.sdp, /m=audio \d+ RTP\/AVP 8 101\r\n/);
  assert.match(held.sdp, /a=rtpmap:101 telephone-event\/8000\r\n/);
  assert.match(held.sdp, /a=sendonly/);
  assert.doesNotMatch(held.sdp, /PCMU/);
});

test('MediaServer rejects bad SDP, unknown ids, and an exhausted port pool', async (t) => {
  const server = await startServer({ RTP_PORT_START: '31000', RTP_PORT_END: '31003' });
  t.after(() => server.close());
  await assert.rejects(server.createEndpoint({ remote_sdp: 'garbage' }), ValidationError);
  await assert.rejects(
    server.createEndpoint({
      remote_sdp: 'v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 3\r\n',
    }),
    UnsupportedError,
  );
  await assert.rejects(server.getEndpoint('nope'), NotFoundError);
  await assert.rejects(server.deleteBridge('nope'), NotFoundError);
  const e1 = await server.createEndpoint({});
  await server.createEndpoint({});
  await assert.rejects(
    server.createEndpoint({}),
    (err: unknown) => err instanceof CapacityError && err.code === 'NO_PORTS_AVAILABLE',
  );
  await server.deleteEndpoint(e1.id);
  const e3 = await server.createEndpoint({});
  assert.ok(e3.rtp_port === 31000 || e3.rtp_port === 31002, 'ports return to the pool');
});

test('MediaServer bridges endpoints placed on different workers', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '2' });
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(), affinity: 'call-1' });
  let b = await server.createEndpoint({ remote_sdp: pb.offer(), affinity: 'call-1' });
  assert.equal(a.worker, b.worker, 'same affinity, same worker');
  await server.deleteEndpoint(b.id);
  let k = 0;
  do b = await server.createEndpoint({ remote_sdp: pb.offer(), affinity: `other-${k++}` });
  while (b.worker === a.worker && k < 50);
  assert.notEqual(b.worker, a.worker);
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.cross_worker, true);
  for (let i = 0; i < 10; i++) pa.send(a.rtp_port, payload(160, i));
  for (let i = 0; i < 10; i++) pb.send(b.rtp_port, payload(160, 50 + i));
  await pb.waitFor(10);
  await pa.waitFor(10);
  assert.deepEqual(pb.received[9]!.payload, payload(160, 9));
  assert.deepEqual(pa.received[0]!.payload, payload(160, 50));
});

test('MediaServer reports a dead worker, closes its endpoints and keeps serving', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const ep = await server.createEndpoint({});
  const died = nextEvent(server, 'worker.died');
  const deleted = nextEvent(server, 'endpoint.deleted', (e) => e.endpoint_id === ep.id);
  // a replacement warms its encoders before it reports started: seconds on a loaded machine
  const restarted = nextEvent(server, 'worker.started', () => true, 60_000);
  await server.crashWorker(0);
  await died;
  assert.equal((await deleted).reason, 'worker_died');
  await restarted;
  await assert.rejects(server.getEndpoint(ep.id), NotFoundError);
  const again = await server.createEndpoint({});
  assert.equal(again.state, 'offered');
  assert.equal(server.isReady(), true);
});

test('MediaServer emits endpoint.media_timeout when RTP stops', async (t) => {
  const server = await startServer({ MEDIA_TIMEOUT_MS: '300' });
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer() });
  const ev = await nextEvent(server, 'endpoint.media_timeout', (e) => e.endpoint_id === ep.id, 3000);
  assert.ok(Number(ev.last_packet_ago_ms) >= 300);
});

test('MediaServer.metrics() exposes engine counters per worker in Prometheus text', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const body = (await server.metrics()).body;
  assert.match(body, /^msc_playbacks\{worker="0"\} 0$/m);
  assert.match(body, /^# TYPE msc_rtp_packets_received_total counter$/m);
  assert.match(body, /^msc_worker_tick_lateness_max_seconds\{worker="0"\} /m);
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$/, `valid exposition line: ${line}`);
  }
});

test('MediaServer re-frames odd packet sizes into 20 ms Opus frames and the worker survives', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  let died = false;
  t.after(
    server.events.subscribe((e) => {
      if (e.type === 'worker.died') died = true;
    }),
  );
  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']) });
  const b = await server.createEndpoint({ remote_sdp: pb.offer(['opus']) });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  // 16 ms packets (128 samples), as some senders packetise, in real time: 640 ms = 32 frames.
  for (let i = 0; i < 40; i++) {
    pa.send(a.rtp_port, payload(128, i), 0, { samples: 128 });
    await new Promise((r) => setTimeout(r, 16));
  }
  await pb.waitFor(30);
  assert.equal(died, false);
  const frames = pb.received;
  for (const f of frames) assert.equal((f.payload[0]! >> 3) & 0x3, 1, 'TOC says a 20 ms frame (config 1, 5, 9...)');
  for (let i = 1; i < frames.length; i++) {
    assert.equal(frames[i]!.seq, (frames[i - 1]!.seq + 1) & 0xffff);
    assert.equal((frames[i]!.ts - frames[i - 1]!.ts) >>> 0, 960, '20 ms at 48 kHz');
  }
  assert.equal((await server.getEndpoint(a.id)).stats.packets_received, 40);
});

test('MediaServer with RTP_STRICT_SOURCE accepts media only from the SDP address (no latching)', async (t) => {
  const server = await startServer({ RTP_STRICT_SOURCE: '1' });
  t.after(() => server.close());
  const [pa, other, pb] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    other.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer() });
  const b = await server.createEndpoint({ remote_sdp: pb.offer() });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  for (let i = 0; i < 3; i++) other.send(a.rtp_port, payload(160, i)); // first, from elsewhere
  pa.send(a.rtp_port, payload(160, 9)); // then from the SDP's address
  await pb.waitFor(1);
  const stats = (await server.getEndpoint(a.id)).stats;
  assert.equal(stats.dropped.source_mismatch, 3);
  assert.equal(stats.packets_received, 1);
  assert.deepEqual(pb.received[0]!.payload, payload(160, 9));
});

test("MediaServer reports a bridge's mode from its legs' current codecs after a re-INVITE", async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const a = await server.createEndpoint({ remote_sdp: pa.offer(['pcmu']) });
  const b = await server.createEndpoint({ remote_sdp: pb.offer(['pcmu']) });
  const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
  assert.equal(bridge.mode, 'relay');
  await server.updateEndpoint(b.id, { remote_sdp: pb.offer(['pcma']) });
  assert.equal(server.getBridge(bridge.id).mode, 'transcode');
  pa.send(a.rtp_port, payload(160, 1));
  await pb.waitFor(1);
  assert.equal(pb.received[0]!.pt, 8, 'and it does transcode');
});
