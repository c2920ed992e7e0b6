import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

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

  const post = (id: string, body: unknown) => app.inject({ method: 'POST', url: `/endpoints/${id}/dtmf`, payload: body as Record<string, unknown> });

  test('answers 200 {digits, method: rfc4733} once sent when the peer negotiated telephone-event', async () => {
    const res = await post(withTe, { digits: '1a', duration_ms: 60 });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { digits: '1A', method: 'rfc4733' });
    // Both digits end with three end packets each (E bit).
    const ends = (): number => peerTe.received.filter((p) => p.pt === 101 && (p.payload[1]! & 0x80) !== 0).length;
    while (ends() < 6) await peerTe.waitFor(peerTe.received.length + 1);
    const events = peerTe.received.filter((p) => p.pt === 101).map((p) => p.payload[0]);
    assert.deepEqual([...new Set(events)], [1, 12], 'RFC 4733 event codes of 1 and A');
  });

  test('answers method inband when the peer negotiated no telephone-event', async () => {
    const res = await post(withoutTe, { digits: '#' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { digits: '#', method: 'inband' });
    await peerPlain.waitFor(1);
    assert.ok(peerPlain.received.every((p) => p.pt === 0), 'audio only');
  });

  test('rejects digits that are not DTMF, a missing field, a bad duration and unknown fields with 400', async () => {
    for (const body of [{ digits: '12x' }, { digits: '' }, {}, { digits: '1', duration_ms: 10 }, { digits: '1', duration_ms: 60000 }, { digits: '1', volume: 3 }]) {
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
