import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { playbackRoutes } from '../../src/api/http/routes/playback.ts';
import { NotFoundError } from '../../src/common/errors.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { loadConfig } from '../../src/config/config.ts';
import { EventBus } from '../../src/control/EventBus.ts';
import {
  PlaybackService,
  type ConferencePlaybackTarget,
  type PlaybackHost,
} from '../../src/control/services/PlaybackService.ts';
import { FakeMediaControl } from '../helpers/FakeMediaControl.ts';
import { fakeRequest } from '../helpers/fakeWorker.ts';
import type { WorkerMethod } from '../../src/protocol/index.ts';

/**
 * PlaybackService paths that need no media: playback into a conference through its target (the
 * ConferenceService in the server), a dead worker, and play() with an AbortSignal, over a host
 * whose worker is scripted by the test.
 */

interface Scripted {
  service: PlaybackService;
  bus: EventBus;
  requests: Array<{ method: WorkerMethod; params: Record<string, unknown> }>;
  conference: { plays: Array<{ id: string; media: string[]; opts: Record<string, unknown> }>; stops: string[] };
  app: FastifyInstance;
}

async function scripted(t: TestContext, withConferences = true): Promise<Scripted> {
  const bus = new EventBus(100);
  const requests: Scripted['requests'] = [];
  const host: PlaybackHost = {
    events: bus,
    hasEndpoint: (id) => id === 'ep1',
    workerOf: () => 0,
    request: fakeRequest((method, params) => {
      requests.push({ method, params });
      if (method === 'playback.start')
        service.onStarted({ playbackId: params.playbackId as string, endpointId: 'ep1' });
      if (method === 'playback.stop')
        service.onFinished({
          playbackId: params.playbackId as string,
          endpointId: 'ep1',
          reason: 'stopped',
          playedMs: 40,
        });
      return { state: 'playing' };
    }),
  };
  const conference: Scripted['conference'] = { plays: [], stops: [] };
  const target: ConferencePlaybackTarget = {
    play: async (id, media, opts) => {
      if (id !== 'room1') throw new NotFoundError('CONFERENCE_NOT_FOUND', `conference ${id} not found`);
      conference.plays.push({ id, media, opts });
      service.onStarted({ playbackId: opts.playbackId as string, conferenceId: id });
      return { playbackId: opts.playbackId, conferenceId: id };
    },
    stopPlay: async (id, playbackId) => {
      conference.stops.push(playbackId);
      service.onFinished({ playbackId, conferenceId: id, reason: 'stopped', playedMs: 20 });
    },
    workerOf: () => 0,
  };
  const service = new PlaybackService(host, withConferences ? { conferences: target } : {});
  t.after(() => service.close());
  const app = await buildApp({
    control: new FakeMediaControl(),
    config: loadConfig({}),
    logger: silentLogger,
    extraRoutes: [playbackRoutes(service)],
  });
  t.after(() => app.close());
  await app.ready();
  return { service, bus, requests, conference, app };
}

test('POST /playback with conference_id plays into the conference; DELETE stops it there; pause is refused', async (t) => {
  const s = await scripted(t);
  const res = await s.app.inject({
    method: 'POST',
    url: '/playback',
    payload: { conference_id: 'room1', media: ['prompt:beep'], loop: 2 },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  assert.equal(body.conference_id, 'room1');
  assert.equal(body.endpoint_id, undefined);
  assert.equal(body.state, 'playing');
  assert.deepEqual(s.conference.plays, [
    { id: 'room1', media: ['prompt:beep'], opts: { playbackId: body.id, loop: 2 } },
  ]);

  const pause = await s.app.inject({ method: 'POST', url: `/playback/${body.id}/pause` });
  assert.equal(pause.statusCode, 400);
  assert.equal(pause.json().error.code, 'PAUSE_UNSUPPORTED');

  const del = await s.app.inject({ method: 'DELETE', url: `/playback/${body.id}` });
  assert.equal(del.statusCode, 200);
  assert.deepEqual(s.conference.stops, [body.id]);
  assert.equal(del.json().reason, 'stopped');
  assert.equal(s.requests.length, 0, 'nothing was asked of an endpoint worker');
});

test('POST /playback with an unknown conference is 404; without a conference service it is 400 CONFERENCE_PLAYBACK_UNAVAILABLE', async (t) => {
  const s = await scripted(t);
  const res = await s.app.inject({
    method: 'POST',
    url: '/playback',
    payload: { conference_id: 'nope', media: ['prompt:beep'] },
  });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, 'CONFERENCE_NOT_FOUND');
  assert.equal(s.service.list().length, 0, 'no record is kept for a failed start');
  const bargeIn = await s.app.inject({
    method: 'POST',
    url: '/playback',
    payload: { conference_id: 'room1', media: ['prompt:beep'], barge_in: true },
  });
  assert.equal(bargeIn.statusCode, 400);

  const bare = await scripted(t, false);
  const res2 = await bare.app.inject({
    method: 'POST',
    url: '/playback',
    payload: { conference_id: 'room1', media: ['prompt:beep'] },
  });
  assert.equal(res2.statusCode, 400);
  assert.equal(res2.json().error.code, 'CONFERENCE_PLAYBACK_UNAVAILABLE');
});

test('POST /playback with conference_id refuses the TTS and digit options a conference playback cannot honour', async (t) => {
  const s = await scripted(t);
  for (const extra of [
    { voice: 'en-us+f3' },
    { lang: 'fr' },
    { rate: 1.5 },
    { engine: 'espeak' },
    { digits_mode: 'dtmf' },
    { digit_duration_ms: 100 },
  ]) {
    const res = await s.app.inject({
      method: 'POST',
      url: '/playback',
      payload: { conference_id: 'room1', media: ['tts:hello'], ...extra },
    });
    assert.equal(res.statusCode, 400, `${JSON.stringify(extra)}: ${res.body}`);
    assert.equal(res.json().error.code, 'INVALID_PLAYBACK');
    assert.match(res.json().error.message, new RegExp(Object.keys(extra)[0]!));
  }
  assert.equal(s.conference.plays.length, 0, 'nothing was played with the options silently dropped');
});

test('PlaybackService.stop() of a conference playback still loading stops it once it plays', async (t) => {
  const bus = new EventBus(100);
  const host: PlaybackHost = {
    events: bus,
    hasEndpoint: () => false,
    workerOf: () => 0,
    request: fakeRequest(() => ({})),
  };
  const playing = new Set<string>();
  const stops: string[] = [];
  let asked!: () => void;
  const playAsked = new Promise<void>((r) => {
    asked = r;
  });
  let loaded!: () => void;
  const load = new Promise<void>((r) => {
    loaded = r;
  });
  const service = new PlaybackService(host, {
    conferences: {
      play: async (id, _media, opts) => {
        asked();
        await load; // the worker resolves the playlist
        playing.add(opts.playbackId as string);
        service.onStarted({ playbackId: opts.playbackId as string, conferenceId: id });
        return {};
      },
      stopPlay: async (id, playbackId) => {
        stops.push(playbackId);
        // as the conference engine: a playback it does not mix yet is not found
        if (!playing.delete(playbackId)) throw new NotFoundError('PLAYBACK_NOT_FOUND', `no playback ${playbackId}`);
        service.onFinished({ playbackId, conferenceId: id, reason: 'stopped', playedMs: 0 });
      },
    },
  });
  t.after(() => service.close());
  const starting = service.start({ conferenceId: 'room1', media: ['prompt:hold-music'], loop: true });
  await playAsked;
  const [listed] = service.list();
  assert.equal(listed?.state, 'loading');
  await service.stop(listed.id);
  loaded();
  await starting;
  const done = await service.finished(listed.id);
  assert.equal(done.reason, 'stopped');
  assert.deepEqual(stops, [listed.id, listed.id]);
  assert.equal(playing.size, 0, 'nothing is left playing into the room');
});

test('PlaybackService.play() passes the options to the worker and resolves with the finishing reason and digit', async (t) => {
  const s = await scripted(t);
  const playing = s.service.play('ep1', ['tts:hi'], { bargeIn: true, voice: 'en-us', digitsMode: 'dtmf' });
  await Promise.resolve();
  const start = s.requests[0]!;
  assert.equal(start.method, 'playback.start');
  assert.deepEqual(start.params.options, { voice: 'en-us', digitsMode: 'dtmf' });
  assert.equal(start.params.bargeIn, true);
  s.service.onFinished({
    playbackId: start.params.playbackId as string,
    endpointId: 'ep1',
    reason: 'barge_in',
    digit: '7',
    playedMs: 300,
  });
  assert.deepEqual(await playing, { reason: 'barge_in', digit: '7' });
  const record = s.service.get(start.params.playbackId as string);
  assert.equal(record.state, 'finished');
  assert.equal(record.playedMs, 300);
});

test('PlaybackService.play() with an aborted signal stops the playback and resolves stopped at once', async (t) => {
  const s = await scripted(t);
  const ac = new AbortController();
  const playing = s.service.play('ep1', ['prompt:beep'], { signal: ac.signal });
  await new Promise((r) => setImmediate(r));
  ac.abort();
  assert.deepEqual(await playing, { reason: 'stopped' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    s.requests.map((r) => r.method),
    ['playback.start', 'playback.stop'],
  );
  const pre = new AbortController();
  pre.abort();
  assert.deepEqual(await s.service.play('ep1', ['prompt:beep'], { signal: pre.signal }), { reason: 'stopped' });
  assert.equal(s.requests.length, 2, 'an already aborted play() starts nothing');
});

test('PlaybackService: a media worker dying finishes its playbacks with reason error', async (t) => {
  const s = await scripted(t);
  const playing = s.service.play('ep1', ['prompt:beep']);
  await new Promise((r) => setImmediate(r));
  s.service.workerDied(0);
  assert.deepEqual(await playing, { reason: 'error' });
  assert.equal(s.service.list()[0]!.error, 'media worker died');
});

test('PlaybackService: unknown endpoint is NotFoundError, and finished records are bounded', async (t) => {
  const s = await scripted(t);
  await assert.rejects(
    s.service.start({ endpointId: 'ep2', media: ['prompt:beep'] }),
    (err: unknown) => err instanceof NotFoundError && err.code === 'ENDPOINT_NOT_FOUND',
  );
  const small = new PlaybackService(
    { events: s.bus, hasEndpoint: () => true, workerOf: () => 0, request: fakeRequest(() => ({})) },
    { keepFinished: 2 },
  );
  t.after(() => small.close());
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await small.start({ endpointId: 'ep1', media: ['prompt:beep'] });
    ids.push(r.id);
    small.onFinished({ playbackId: r.id, endpointId: 'ep1', reason: 'done', playedMs: 0 });
  }
  assert.deepEqual(
    small.list().map((r) => r.id),
    ids.slice(2),
  );
});
