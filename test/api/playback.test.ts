import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/**
 * /playback over a real MediaServer (one worker) and app.inject. The prompts directory is a
 * temporary one holding a copy of prompts/beep.wav, a symlink pointing outside it and a secret
 * file beside it, so path traversal can be tried for real.
 */
describe('/playback', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  let peer: RtpPeer;
  let dir: string;
  let endpointId: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'playback-api-'));
    const prompts = path.join(dir, 'prompts');
    const recordings = path.join(dir, 'recordings');
    await Promise.all([mkdir(prompts), mkdir(recordings)]);
    await copyFile('prompts/beep.wav', path.join(prompts, 'beep.wav'));
    await copyFile('prompts/hold-music.wav', path.join(prompts, 'hold-music.wav'));
    await writeFile(path.join(dir, 'secret.wav'), 'not for callers');
    await symlink(path.join(dir, 'secret.wav'), path.join(prompts, 'escape.wav'));
    server = await startServer({ PROMPTS_DIR: prompts, RECORDINGS_DIR: recordings });
    app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    await app.ready();
    peer = await RtpPeer.open();
    endpointId = (await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) })).id;
  });

  after(async () => {
    await app.close();
    await server.close();
    peer.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (body: unknown) =>
    app.inject({ method: 'POST', url: '/playback', payload: body as Record<string, unknown> });

  test('POST /playback answers 201 with the playing playback; GET shows it; DELETE stops it with reason stopped', async () => {
    const started = nextEvent(server, 'playback.started');
    const res = await post({ endpoint_id: endpointId, media: ['prompt:hold-music'], loop: true });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.equal(body.endpoint_id, endpointId);
    assert.equal(body.state, 'playing');
    assert.deepEqual(body.media, ['prompt:hold-music']);
    assert.equal(body.loop, true);
    assert.equal((await started).playback_id, body.id);

    const got = await app.inject({ method: 'GET', url: `/playback/${body.id}` });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().state, 'playing');
    const list = await app.inject({ method: 'GET', url: '/playback' });
    assert.ok(list.json().some((p: { id: string }) => p.id === body.id));

    const finished = nextEvent(server, 'playback.finished', (e) => e.playback_id === body.id);
    const del = await app.inject({ method: 'DELETE', url: `/playback/${body.id}` });
    assert.equal(del.statusCode, 200);
    assert.equal(del.json().state, 'finished');
    assert.equal(del.json().reason, 'stopped');
    assert.equal((await finished).reason, 'stopped');
    // idempotent: a second DELETE answers the finished playback
    const again = await app.inject({ method: 'DELETE', url: `/playback/${body.id}` });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().reason, 'stopped');
  });

  test('POST /playback/:id/pause and /resume change the state; pausing a finished playback is 409', async () => {
    const res = await post({ endpoint_id: endpointId, media: ['prompt:hold-music'] });
    const id = res.json().id as string;
    const paused = await app.inject({ method: 'POST', url: `/playback/${id}/pause` });
    assert.equal(paused.statusCode, 200, paused.body);
    assert.equal(paused.json().state, 'paused');
    const resumed = await app.inject({ method: 'POST', url: `/playback/${id}/resume` });
    assert.equal(resumed.json().state, 'playing');
    await app.inject({ method: 'DELETE', url: `/playback/${id}` });
    const late = await app.inject({ method: 'POST', url: `/playback/${id}/pause` });
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().error.code, 'PLAYBACK_FINISHED');
  });

  test('a second POST /playback on the endpoint replaces the first, which finishes stopped', async () => {
    const first = (await post({ endpoint_id: endpointId, media: ['prompt:hold-music'] })).json();
    const firstDone = nextEvent(server, 'playback.finished', (e) => e.playback_id === first.id);
    const second = (await post({ endpoint_id: endpointId, media: ['prompt:beep'] })).json();
    assert.equal((await firstDone).reason, 'stopped');
    const done = await nextEvent(server, 'playback.finished', (e) => e.playback_id === second.id);
    assert.equal(done.reason, 'done');
    assert.equal((await app.inject({ method: 'GET', url: `/playback/${first.id}` })).json().reason, 'stopped');
    assert.equal((await app.inject({ method: 'GET', url: `/playback/${second.id}` })).json().reason, 'done');
  });

  test('POST /playback to an unknown endpoint is 404 ENDPOINT_NOT_FOUND', async () => {
    const res = await post({ endpoint_id: 'no-such-endpoint', media: ['prompt:beep'] });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'ENDPOINT_NOT_FOUND');
  });

  test('POST /playback to an endpoint without negotiated media (offer not answered yet) is 409 ENDPOINT_NOT_NEGOTIATED', async () => {
    const offered = await server.createEndpoint({});
    const res = await post({ endpoint_id: offered.id, media: ['prompt:beep'] });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, 'ENDPOINT_NOT_NEGOTIATED');
    await server.deleteEndpoint(offered.id);
  });

  test('GET, DELETE and pause of an unknown playback are 404 PLAYBACK_NOT_FOUND', async () => {
    for (const [method, url] of [
      ['GET', '/playback/nope'],
      ['DELETE', '/playback/nope'],
      ['POST', '/playback/nope/pause'],
    ] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().error.code, 'PLAYBACK_NOT_FOUND');
    }
  });

  test('POST /playback refuses path traversal: .. segments, absolute paths and symlinks out of the media roots', async () => {
    const cases: Array<[string, string]> = [
      ['../secret.wav', "must not contain '..'"],
      ['prompt:../secret', 'no .. segments'],
      [path.join(dir, 'secret.wav'), 'outside the allowed media roots'],
      ['/etc/passwd', 'outside the allowed media roots'],
      ['escape.wav', 'resolves outside the allowed media roots'],
      ['prompt:escape', 'resolves outside the allowed media roots'],
    ];
    for (const [item, why] of cases) {
      const res = await post({ endpoint_id: endpointId, media: ['prompt:beep', item] });
      assert.equal(res.statusCode, 400, `${item}: ${res.body}`);
      const message = res.json().error.message as string;
      assert.ok(
        message.includes(item.replace(/^prompt:/, '')) || message.includes(item),
        `${item}: message names it: ${message}`,
      );
      assert.ok(message.includes(why), `${item}: ${message}`);
    }
  });

  test('POST /playback with a bad or missing media item is 400 naming the item, and nothing plays', async () => {
    const events: string[] = [];
    const off = server.events.subscribe((e) => {
      if (e.type.startsWith('playback.')) events.push(e.type);
    });
    try {
      for (const [item, code] of [
        ['tone:abc', 'INVALID_MEDIA'],
        ['prompt:missing', 'PROMPT_NOT_FOUND'],
        ['nothing-here.wav', 'MEDIA_NOT_FOUND'],
        ['silence:0', 'INVALID_MEDIA'],
        ['bogus:1', 'INVALID_MEDIA'],
      ]) {
        const res = await post({ endpoint_id: endpointId, media: ['prompt:beep', item as string] });
        assert.equal(res.statusCode, 400, `${item}: ${res.body}`);
        assert.equal(res.json().error.code, code, item);
        assert.ok((res.json().error.message as string).includes((item as string).replace(/^prompt:/, '')), res.body);
      }
    } finally {
      off();
    }
    assert.deepEqual(events, []);
  });

  test('POST /playback validates the body: media required and non-empty, one target, no unknown fields', async () => {
    const bad: Array<[unknown, string]> = [
      [{ endpoint_id: endpointId }, "must have required property 'media'"],
      [{ endpoint_id: endpointId, media: [] }, 'body/media must NOT have fewer than 1 items'],
      [{ endpoint_id: endpointId, media: ['prompt:beep'], volume: 3 }, 'body/volume is not allowed'],
      [{ media: ['prompt:beep'] }, 'exactly one of endpoint_id and conference_id'],
      [
        { endpoint_id: endpointId, conference_id: 'c', media: ['prompt:beep'] },
        'exactly one of endpoint_id and conference_id',
      ],
      [
        { endpoint_id: endpointId, media: ['prompt:beep'], digits_mode: 'morse' },
        'body/digits_mode must be one of: speak, dtmf',
      ],
    ];
    for (const [body, message] of bad) {
      const res = await post(body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.ok((res.json().error.message as string).includes(message), `${JSON.stringify(body)}: ${res.body}`);
    }
  });

  test('POST /playback with conference_id plays into a real conference: a participant hears the tone, then finished done', async () => {
    const conf = await app.inject({
      method: 'POST',
      url: '/conferences',
      payload: { id: 'pb-room', entry_tone: false, exit_tone: false },
    });
    assert.equal(conf.statusCode, 201, conf.body);
    const member = await RtpPeer.open();
    try {
      const ep = await server.createEndpoint({ remote_sdp: member.offer(['pcmu']), affinity: 'pb-room' });
      const join = await app.inject({
        method: 'POST',
        url: '/conferences/pb-room/participants',
        payload: { endpoint_id: ep.id },
      });
      assert.equal(join.statusCode, 201, join.body);
      const res = await post({ conference_id: 'pb-room', media: ['tone:1000:400'] });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().conference_id, 'pb-room');
      const id = res.json().id as string;
      const done = await nextEvent(server, 'playback.finished', (e) => e.playback_id === id);
      assert.equal(done.reason, 'done');
      assert.equal(done.conference_id, 'pb-room');
      assert.equal((await app.inject({ method: 'GET', url: `/playback/${id}` })).json().reason, 'done');
      // The member heard it: μ-law bytes far from silence (0xff/0x7f) in at least 15 of 20 frames.
      const loud = member.received.filter((p) => p.payload.filter((b) => (b & 0x7f) < 0x60).length > 40);
      assert.ok(loud.length >= 15, `${loud.length} frames with the tone`);
      await server.deleteEndpoint(ep.id);
    } finally {
      member.close();
      await app.inject({ method: 'DELETE', url: '/conferences/pb-room' });
    }
  });

  test('the OpenAPI document describes /playback with its schemas', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.ok(doc.paths['/playback']?.post, 'POST /playback documented');
    assert.ok(doc.paths['/playback/{id}']?.delete, 'DELETE /playback/{id} documented');
  });
});
