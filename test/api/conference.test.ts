import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/** /conferences over a real MediaServer (two workers, to show placement) and app.inject. */
describe('/conferences', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  const peers: RtpPeer[] = [];

  before(async () => {
    server = await startServer({ MEDIA_WORKERS: '2' });
    app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await server.close();
    for (const p of peers) p.close();
  });

  async function endpoint(affinity?: string): Promise<string> {
    const peer = await RtpPeer.open();
    peers.push(peer);
    const ep = await server.createEndpoint({
      remote_sdp: peer.offer(['pcmu']),
      ...(affinity !== undefined ? { affinity } : {}),
    });
    return ep.id;
  }

  const inject = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
    app.inject({ method, url, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });

  test('POST /conferences answers 201 {id, worker} placed by affinity; GET lists it; DELETE ends it', async () => {
    const created = nextEvent(server, 'conference.created', (e) => e.conference_id === 'api-room');
    const res = await inject('POST', '/conferences', {
      id: 'api-room',
      sample_rate: 16000,
      max_participants: 5,
      loudest_talkers: 3,
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.equal(body.id, 'api-room');
    assert.equal(body.worker, server.workerForAffinity('api-room'));
    assert.equal(body.sample_rate, 16000);
    assert.equal(body.max_participants, 5);
    assert.equal(body.loudest_talkers, 3);
    assert.equal(body.entry_tone, true);
    assert.deepEqual(body.participants, []);
    assert.equal((await created).worker, body.worker);
    const list = await inject('GET', '/conferences');
    assert.deepEqual(
      list.json().map((c: { id: string }) => c.id),
      ['api-room'],
    );
    assert.equal((await inject('POST', '/conferences', { id: 'api-room' })).json().error.code, 'CONFERENCE_EXISTS');
    const ended = nextEvent(server, 'conference.ended', (e) => e.conference_id === 'api-room');
    assert.equal((await inject('DELETE', '/conferences/api-room')).statusCode, 204);
    assert.equal((await ended).reason, 'deleted');
    assert.equal((await inject('GET', '/conferences/api-room')).statusCode, 404);
    assert.equal((await inject('DELETE', '/conferences/api-room')).json().error.code, 'CONFERENCE_NOT_FOUND');
  });

  test('POST /conferences without a body generates an id', async () => {
    const res = await inject('POST', '/conferences', {});
    assert.equal(res.statusCode, 201, res.body);
    assert.match(res.json().id, /^[0-9a-f-]{36}$/);
    assert.equal((await inject('DELETE', `/conferences/${res.json().id}`)).statusCode, 204);
  });

  test('schema violations answer 400 naming the field', async () => {
    const bad = [{ sample_rate: 44100 }, { max_participants: -1 }, { id: 'has space' }, { unknown_option: true }];
    for (const body of bad) {
      const res = await inject('POST', '/conferences', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      const field = Object.keys(body)[0]!;
      assert.ok(res.body.includes(field), `${res.body} names ${field}`);
    }
  });

  test('participants: add (201), PATCH mute/gain, GET shows state, DELETE kicks', async () => {
    await inject('POST', '/conferences', { id: 'members', entry_tone: false });
    const a = await endpoint('members');
    const b = await endpoint('members');
    const res = await inject('POST', '/conferences/members/participants', {
      endpoint_id: a,
      moderator: true,
      gain_db: -3,
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().endpoint_id, a);
    assert.equal(res.json().moderator, true);
    assert.equal(res.json().gain_db, -3);
    assert.equal(res.json().state, 'active');
    assert.equal(res.json().codec, 'pcmu');
    assert.equal(
      (await inject('POST', '/conferences/members/participants', { endpoint_id: b, hold: true })).json().state,
      'held',
    );
    const updated = nextEvent(server, 'conference.participant.updated', (e) => e.endpoint_id === a);
    const patch = await inject('PATCH', `/conferences/members/participants/${a}`, { muted: true, output_gain_db: 6 });
    assert.equal(patch.statusCode, 200, patch.body);
    assert.equal(patch.json().muted, true);
    assert.equal(patch.json().output_gain_db, 6);
    assert.equal((await updated).muted, true);
    const info = (await inject('GET', '/conferences/members')).json();
    assert.deepEqual(
      info.participants.map((p: { endpoint_id: string; muted: boolean; hold: boolean }) => [
        p.endpoint_id,
        p.muted,
        p.hold,
      ]),
      [
        [a, true, false],
        [b, false, true],
      ],
    );
    assert.equal((await inject('PATCH', `/conferences/members/participants/${a}`, {})).statusCode, 400);
    const left = nextEvent(server, 'conference.participant.left', (e) => e.endpoint_id === b);
    assert.equal((await inject('DELETE', `/conferences/members/participants/${b}`)).statusCode, 204);
    assert.equal((await left).reason, 'kicked');
    assert.equal(
      (await inject('DELETE', `/conferences/members/participants/${b}`)).json().error.code,
      'PARTICIPANT_NOT_FOUND',
    );
    assert.ok(server.hasEndpoint(b), 'a kicked participant keeps its endpoint');
    await inject('DELETE', '/conferences/members');
  });

  test('an endpoint on another worker gets 409 CONFERENCE_WORKER_MISMATCH explaining affinity; a full room 409 CONFERENCE_FULL', async () => {
    await inject('POST', '/conferences', { id: 'placed', max_participants: 1 });
    const home = server.workerForAffinity('placed');
    let other = '';
    for (let i = 0; i < 20 && other === ''; i++) {
      const id = await endpoint(`elsewhere-${i}`);
      if (server.workerOf(id) !== home) other = id;
    }
    assert.notEqual(other, '', 'found an endpoint on the other worker');
    const res = await inject('POST', '/conferences/placed/participants', { endpoint_id: other });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'CONFERENCE_WORKER_MISMATCH');
    assert.match(res.json().error.message, /affinity/);
    const a = await endpoint('placed');
    const b = await endpoint('placed');
    assert.equal((await inject('POST', '/conferences/placed/participants', { endpoint_id: a })).statusCode, 201);
    const full = await inject('POST', '/conferences/placed/participants', { endpoint_id: b });
    assert.equal(full.statusCode, 409);
    assert.equal(full.json().error.code, 'CONFERENCE_FULL');
    assert.equal(
      (await inject('POST', '/conferences/placed/participants', { endpoint_id: 'missing' })).statusCode,
      404,
    );
    assert.equal((await inject('POST', '/conferences/nowhere/participants', { endpoint_id: a })).statusCode, 404);
    await inject('DELETE', '/conferences/placed');
  });
});
