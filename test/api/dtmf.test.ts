import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/** POST /endpoints/:id/dtmf over a real MediaServer (one worker) and app.inject. */
describe('POST /endpoints/:id/dtmf', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  let peerTe: RtpPeer;
  let peerPlain: RtpPeer;
  let withTe: string;
  let withoutTe: string;

  before(async () => {
    server = await startServer();
    app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    await app.ready();
    peerTe = await RtpPeer.open();
    peerPlain = await RtpPeer.open();
    withTe = (await server.createEndpoint({ remote_sdp: peerTe.offer(['pcmu']) })).id;
    withoutTe = (await server.createEndpoint({ remote_sdp: peerPlain.offer(['pcmu'], { telephoneEvent: false }) })).id;
  });

  after(async () => {
    await app.close();
    await server.close();
    peerTe.close();
    peerPlain.close();
  });

  const post = (id: string, body: unknown) =>
    app.inject({ method: 'POST', url: `/endpoints/${id}/dtmf`, payload: body as Record<string, unknown> });

  test('answers 202 with an id at once; dtmf.sent {id, method: rfc4733} follows once sent when the peer negotiated telephone-event', async () => {
    const res = await post(withTe, { digits: '1a', duration_ms: 60 });
    assert.equal(res.statusCode, 202, res.body);
    const accepted = res.json();
    assert.match(accepted.id, /^dtmf-/);
    assert.deepEqual({ ...accepted, id: 'x' }, { id: 'x', endpoint_id: withTe, digits: '1A', duration_ms: 60 });
    const sent = await nextEvent(server, 'dtmf.sent', (e) => e.id === accepted.id);
    assert.deepEqual([sent.endpoint_id, sent.digits, sent.method], [withTe, '1A', 'rfc4733']);
    // Both digits end with three end packets each (E bit), all out before dtmf.sent.
    const ends = peerTe.received.filter((p) => p.pt === 101 && (p.payload[1]! & 0x80) !== 0).length;
    const events = peerTe.received.filter((p) => p.pt === 101).map((p) => p.payload[0]);
    assert.deepEqual([...new Set(events)], [1, 12], 'RFC 4733 event codes of 1 and A');
    assert.ok(ends >= 5, `end packets sent before dtmf.sent: ${ends}`);
  });

  test('a long send (64 digits, just under the 30 s cap) answers 202 before its first press is out; deleting the endpoint ends it with dtmf.failed', async () => {
    const peer = await RtpPeer.open();
    try {
      const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
      const res = await post(ep.id, { digits: '1'.repeat(64), duration_ms: 468 });
      assert.equal(res.statusCode, 202, res.body);
      // measured against the send's own schedule: not one press had ended when the reply came
      assert.equal(peer.received.filter((p) => p.pt === 101 && (p.payload[1]! & 0x80) !== 0).length, 0);
      const failed = nextEvent(server, 'dtmf.failed', (e) => e.id === res.json().id);
      await peer.waitFor(1); // sending has begun
      await server.deleteEndpoint(ep.id);
      const f = await failed;
      assert.equal(f.endpoint_id, ep.id);
      assert.equal(f.digits, '1'.repeat(64));
      assert.equal(typeof f.code, 'string');
      assert.notEqual(f.code, 'INTERNAL');
    } finally {
      peer.close();
    }
  });

  test('answers 400 DTMF_TOO_LONG for more than 30 s of presses (64 digits × 5000 ms held the request for over 5 minutes)', async () => {
    const res = await post(withTe, { digits: '1'.repeat(64), duration_ms: 5000 });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.code, 'DTMF_TOO_LONG');
    assert.match(res.json().error.message, /limit is 30000 ms/);
  });

  test('answers 202 and dtmf.sent {method: inband} when the peer negotiated no telephone-event', async () => {
    const res = await post(withoutTe, { digits: '#' });
    assert.equal(res.statusCode, 202, res.body);
    const sent = await nextEvent(server, 'dtmf.sent', (e) => e.id === res.json().id);
    assert.deepEqual([sent.digits, sent.method], ['#', 'inband']);
    await peerPlain.waitFor(1);
    assert.ok(
      peerPlain.received.every((p) => p.pt === 0),
      'audio only',
    );
  });

  test('rejects digits that are not DTMF, a missing field, a bad duration and unknown fields with 400', async () => {
    for (const body of [
      { digits: '12x' },
      { digits: '' },
      {},
      { digits: '1', duration_ms: 10 },
      { digits: '1', duration_ms: 60000 },
      { digits: '1', volume: 3 },
    ]) {
      const res = await post(withTe, body);
      assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(typeof res.json().error.code, 'string');
    }
  });

  test('answers 404 ENDPOINT_NOT_FOUND for an unknown endpoint', async () => {
    const res = await post('no-such-endpoint', { digits: '1' });
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(res.json().error.code, 'ENDPOINT_NOT_FOUND');
  });
});
