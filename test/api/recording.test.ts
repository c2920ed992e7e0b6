import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { sine } from '../helpers/audio.ts';
import { streamPcmu } from '../integration/recordingHelpers.ts';

/**
 * /recordings over a real MediaServer (one worker) and app.inject: schemas, errors, the reply
 * shapes, pause/resume, DELETE's result, the download, and names that try to leave the
 * recordings directory.
 */
describe('/recordings', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  let peer: RtpPeer;
  let dir: string;
  let recordingsDir: string;
  let endpointId: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'recording-api-'));
    recordingsDir = path.join(dir, 'recordings');
    server = await startServer({ RECORDINGS_DIR: recordingsDir });
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

  const post = (body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/recordings', payload: body });

  test('POST /recordings answers 201 with the recording, GET shows it, DELETE answers the finalised file', async () => {
    const res = await post({ endpoint_id: endpointId, format: 'wav', channels: 'stereo' });
    assert.equal(res.statusCode, 201, res.body);
    const rec = res.json();
    assert.equal(rec.state, 'recording');
    assert.equal(rec.format, 'wav');
    assert.equal(rec.channels, 'stereo');
    assert.equal(rec.endpoint_id, endpointId);
    assert.equal(rec.bridge_id, null);
    assert.equal(rec.path, path.join(recordingsDir, `${rec.id}.wav`));
    assert.equal(rec.sample_rate, 8000);

    const got = await app.inject({ method: 'GET', url: `/recordings/${rec.id}` });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().id, rec.id);
    assert.equal(typeof got.json().duration_ms, 'number', 'audio so far');
    const list = await app.inject({ method: 'GET', url: '/recordings' });
    assert.ok(list.json().some((r: { id: string }) => r.id === rec.id));

    const paused = await app.inject({ method: 'POST', url: `/recordings/${rec.id}/pause` });
    assert.equal(paused.statusCode, 200, paused.body);
    assert.equal(paused.json().state, 'paused');
    const resumed = await app.inject({ method: 'POST', url: `/recordings/${rec.id}/resume` });
    assert.equal(resumed.json().state, 'recording');

    const finished = nextEvent(server, 'recording.finished', (e) => e.recording_id === rec.id);
    const del = await app.inject({ method: 'DELETE', url: `/recordings/${rec.id}` });
    assert.equal(del.statusCode, 200, del.body);
    const result = del.json();
    assert.deepEqual(Object.keys(result).sort(), ['bytes', 'cause', 'duration_ms', 'format', 'id', 'path']);
    assert.equal(result.id, rec.id);
    assert.equal(result.cause, 'stopped');
    assert.equal(result.bytes, readFileSync(rec.path).length);
    const e = await finished;
    assert.equal(e.endpoint_id, endpointId);
    assert.equal(e.path, rec.path);
    assert.equal(e.bytes, result.bytes);
    assert.ok(!('id' in e), 'engine events name their objects, never a bare id');

    // after the end: GET shows the outcome; DELETE again answers the same; pause is refused
    const after = (await app.inject({ method: 'GET', url: `/recordings/${rec.id}` })).json();
    assert.equal(after.state, 'finished');
    assert.equal(after.cause, 'stopped');
    assert.equal((await app.inject({ method: 'DELETE', url: `/recordings/${rec.id}` })).json().bytes, result.bytes);
    const late = await app.inject({ method: 'POST', url: `/recordings/${rec.id}/pause` });
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().error.code, 'RECORDING_NOT_ACTIVE');
  });

  test("GET /endpoints/:id reports the recording path's receive counters, discarded included", async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/recordings',
      payload: { endpoint_id: endpointId, format: 'wav' },
    });
    assert.equal(res.statusCode, 201);
    const id = res.json<{ id: string }>().id;
    const lose = new Set([10, 11]);
    await streamPcmu(peer, (await server.getEndpoint(endpointId)).rtp_port, sine(8000, 0.6, 700, 8000), lose);
    assert.equal((await app.inject({ method: 'DELETE', url: `/recordings/${id}` })).statusCode, 200);
    const ep = (await app.inject({ method: 'GET', url: `/endpoints/${endpointId}` })).json<{
      stats: { jitter_buffer: Record<string, number> | null };
    }>();
    const jb = ep.stats.jitter_buffer;
    assert.ok(jb !== null, 'the decoding path is reported');
    assert.deepEqual(Object.keys(jb).sort(), ['concealed', 'delay_ms', 'discarded', 'duplicates', 'late', 'lost']);
    assert.equal(jb.lost, 2, 'the two packets never sent');
    assert.equal(jb.concealed, 2, 'concealed, each once');
    assert.equal(jb.discarded, 0, 'a recording never throws audio away to shrink a delay');
    assert.equal(jb.delay_ms, 0, 'in-order decoding: no playout delay');
  });

  test("GET /recordings/:id/media streams the file with the format's content type", async () => {
    const rec = (await post({ endpoint_id: endpointId, format: 'opus', name: 'downloads/one' })).json();
    assert.equal(rec.path, path.join(recordingsDir, 'downloads', 'one.opus'));
    // audio so the file has pages beyond the headers
    const port = (await server.getEndpoint(endpointId)).rtp_port;
    for (let i = 0; i < 10; i++) peer.send(port, new Uint8Array(160).fill(0x35));
    await app.inject({ method: 'DELETE', url: `/recordings/${rec.id}` });
    const res = await app.inject({ method: 'GET', url: `/recordings/${rec.id}/media` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'audio/ogg');
    assert.equal(res.headers['content-disposition'], 'attachment; filename="one.opus"');
    assert.deepEqual(res.rawPayload, readFileSync(rec.path));
    assert.equal(res.rawPayload.subarray(0, 4).toString(), 'OggS');

    const wav = (await post({ endpoint_id: endpointId, format: 'wav' })).json();
    // a WAV in progress downloads as far as written, with a valid header
    const live = await app.inject({ method: 'GET', url: `/recordings/${wav.id}/media` });
    assert.equal(live.statusCode, 200);
    assert.equal(live.headers['content-type'], 'audio/wav');
    assert.equal(live.rawPayload.subarray(0, 4).toString(), 'RIFF');
    await app.inject({ method: 'DELETE', url: `/recordings/${wav.id}` });
  });

  test('POST /recordings refuses names that leave the recordings directory', async () => {
    await writeFile(path.join(dir, 'victim.wav'), 'keep me');
    for (const name of [
      '../victim',
      '../../etc/passwd',
      '/tmp/x',
      'a/../../victim',
      '.hidden',
      'a//b',
      'sp ace',
      'x\u0000y',
      'ok/..',
    ]) {
      const res = await post({ endpoint_id: endpointId, format: 'wav', name, if_exists: 'overwrite' });
      assert.equal(res.statusCode, 400, `${JSON.stringify(name)}: ${res.body}`);
      assert.equal(res.json().error.code, 'INVALID_NAME');
    }
    assert.equal(readFileSync(path.join(dir, 'victim.wav'), 'utf8'), 'keep me');
  });

  test('POST /recordings never writes through a symlink out of the recordings directory (folder, file or hard link)', async () => {
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(elsewhere, { recursive: true });
    await mkdir(path.join(recordingsDir, 'inner-real'), { recursive: true });
    await symlink(elsewhere, path.join(recordingsDir, 'linkdir'));
    await symlink(path.join(recordingsDir, 'inner-real'), path.join(recordingsDir, 'inner-link'));
    await writeFile(path.join(dir, 'outside.wav'), 'keep me');
    await writeFile(path.join(dir, 'outside.mp3'), 'keep me');
    await symlink(path.join(dir, 'outside.wav'), path.join(recordingsDir, 'flink.wav'));
    await symlink(path.join(dir, 'outside.mp3'), path.join(recordingsDir, 'flink.mp3'));
    await symlink(path.join(dir, 'outside.wav'), path.join(recordingsDir, 'dangling-dir-target'));
    await link(path.join(dir, 'outside.wav'), path.join(recordingsDir, 'hard.wav'));
    const refused: Array<Record<string, unknown>> = [
      { format: 'wav', name: 'linkdir/r6' },
      { format: 'wav', name: 'linkdir/sub/r7' },
      { format: 'wav', name: 'flink', if_exists: 'overwrite' },
      { format: 'wav', name: 'flink', if_exists: 'append' },
      { format: 'wav', name: 'flink' },
      { format: 'mp3', name: 'flink', if_exists: 'append' },
      { format: 'mp3', name: 'flink', if_exists: 'overwrite' },
      { format: 'wav', name: 'hard', if_exists: 'overwrite' },
      { format: 'wav', name: 'hard', if_exists: 'append' },
      { format: 'wav', name: 'dangling-dir-target/x' },
    ];
    for (const body of refused) {
      const res = await post({ endpoint_id: endpointId, ...body });
      assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, 'PATH_FORBIDDEN', JSON.stringify(body));
    }
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing created outside, not even a folder');
    assert.equal(readFileSync(path.join(dir, 'outside.wav'), 'utf8'), 'keep me');
    assert.equal(readFileSync(path.join(dir, 'outside.mp3'), 'utf8'), 'keep me');

    // a link to a folder inside the directory is fine: the file lands at its real path
    const inner = await post({ endpoint_id: endpointId, format: 'wav', name: 'inner-link/r8' });
    assert.equal(inner.statusCode, 201, inner.body);
    assert.equal(inner.json().path, path.join(recordingsDir, 'inner-real', 'r8.wav'));
    await app.inject({ method: 'DELETE', url: `/recordings/${inner.json().id}` });

    // a finished recording swapped for a link is not served
    const done = (await post({ endpoint_id: endpointId, format: 'wav', name: 'swapped' })).json();
    await app.inject({ method: 'DELETE', url: `/recordings/${done.id}` });
    await rm(done.path);
    await symlink(path.join(dir, 'outside.wav'), done.path);
    const media = await app.inject({ method: 'GET', url: `/recordings/${done.id}/media` });
    assert.equal(media.statusCode, 400, media.body);
    assert.equal(media.json().error.code, 'PATH_FORBIDDEN');
  });

  test('POST /recordings: if_exists fail answers 409, overwrite replaces, append continues the WAV', async () => {
    const first = (await post({ endpoint_id: endpointId, format: 'wav', name: 'same' })).json();
    await app.inject({ method: 'DELETE', url: `/recordings/${first.id}` });
    const again = await post({ endpoint_id: endpointId, format: 'wav', name: 'same.wav' });
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(again.json().error.code, 'RECORDING_EXISTS');
    const busy = (await post({ endpoint_id: endpointId, format: 'wav', name: 'busy' })).json();
    const twice = await post({ endpoint_id: endpointId, format: 'wav', name: 'busy', if_exists: 'overwrite' });
    assert.equal(twice.statusCode, 409);
    assert.equal(twice.json().error.code, 'RECORDING_PATH_BUSY');
    await app.inject({ method: 'DELETE', url: `/recordings/${busy.id}` });
    const appended = await post({ endpoint_id: endpointId, format: 'wav', name: 'same', if_exists: 'append' });
    assert.equal(appended.statusCode, 201, appended.body);
    await app.inject({ method: 'DELETE', url: `/recordings/${appended.json().id}` });
  });

  test('POST /recordings: two concurrent starts with one name never both write the file', async () => {
    const [a, b] = await Promise.all([
      post({ endpoint_id: endpointId, format: 'wav', name: 'race', if_exists: 'overwrite' }),
      post({ endpoint_id: endpointId, format: 'wav', name: 'race', if_exists: 'overwrite' }),
    ]);
    const codes = [a.statusCode, b.statusCode].sort();
    assert.deepEqual(codes, [201, 409], `${a.body} ${b.body}`);
    const loser = a.statusCode === 409 ? a : b;
    assert.equal(loser.json().error.code, 'RECORDING_PATH_BUSY');
    const winner = a.statusCode === 201 ? a : b;
    await app.inject({ method: 'DELETE', url: `/recordings/${winner.json().id}` });
  });

  test('POST /recordings validates the body and its targets', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ endpoint_id: endpointId }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, format: 'flac' }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, format: 'wav', channels: 'quad' }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, format: 'wav', max_duration_ms: -1 }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, format: 'wav', terminate_on: 'x' }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, format: 'wav', colour: 'blue' }, 400, 'VALIDATION_ERROR'],
      [{ format: 'wav' }, 400, 'VALIDATION_ERROR'],
      [{ endpoint_id: endpointId, bridge_id: 'b', format: 'wav' }, 400, 'VALIDATION_ERROR'],
      [{ conference_id: 'nope', format: 'wav' }, 404, 'CONFERENCE_NOT_FOUND'],
      [{ conference_id: 'nope', format: 'wav', channels: 'stereo' }, 400, 'UNSUPPORTED_CHANNELS'],
      [{ endpoint_id: 'nope', format: 'wav' }, 404, 'ENDPOINT_NOT_FOUND'],
      [{ bridge_id: 'nope', format: 'wav' }, 404, 'BRIDGE_NOT_FOUND'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      assert.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, code, JSON.stringify(body));
    }
    for (const [method, url] of [
      ['GET', '/recordings/nope'],
      ['DELETE', '/recordings/nope'],
      ['POST', '/recordings/nope/pause'],
      ['GET', '/recordings/nope/media'],
    ] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().error.code, 'RECORDING_NOT_FOUND');
    }
  });

  test("POST /recordings with conference_id records the room's mix; the recording ends with the conference", async () => {
    const conf = await app.inject({ method: 'POST', url: '/conferences', payload: { id: 'rec-room' } });
    assert.equal(conf.statusCode, 201, conf.body);
    const member = await RtpPeer.open();
    try {
      const ep = await server.createEndpoint({ remote_sdp: member.offer(['pcmu']) });
      const joined = await app.inject({
        method: 'POST',
        url: '/conferences/rec-room/participants',
        payload: { endpoint_id: ep.id },
      });
      assert.equal(joined.statusCode, 201, joined.body);
      const res = await post({ conference_id: 'rec-room', format: 'wav' });
      assert.equal(res.statusCode, 201, res.body);
      const rec = res.json();
      assert.equal(rec.conference_id, 'rec-room');
      assert.equal(rec.endpoint_id, null);
      // a tone from the member, in real time, is in the full mix
      await streamPcmu(member, ep.rtp_port, sine(8000, 0.4, 500, 8000));
      const finished = nextEvent(server, 'recording.finished', (e) => e.recording_id === rec.id);
      assert.equal((await app.inject({ method: 'DELETE', url: '/conferences/rec-room' })).statusCode, 204);
      const e = await finished;
      assert.equal(e.conference_id, 'rec-room');
      assert.equal(e.cause, 'hangup');
      const wav = readFileSync(rec.path);
      assert.equal(wav.subarray(0, 4).toString(), 'RIFF');
      let peak = 0;
      for (let i = 44; i + 1 < wav.length; i += 2) peak = Math.max(peak, Math.abs(wav.readInt16LE(i)));
      assert.ok(peak > 1000, `the member's audio is in the mix (peak ${peak})`);
    } finally {
      member.close();
    }
  });

  test('the OpenAPI document describes /recordings', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.ok(doc.paths['/recordings']?.post, 'POST /recordings documented');
    assert.ok(doc.paths['/recordings/{id}/media']?.get, 'download documented');
  });
});
