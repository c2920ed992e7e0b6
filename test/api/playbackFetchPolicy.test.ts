import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

/**
 * The fetch policy end to end: POST /playback with http items through a real MediaServer, whose
 * media worker gets MEDIA_FETCH_ALLOW / MEDIA_FETCH_DENY from the configuration.
 */
async function setup(t: TestContext, env: Record<string, string>) {
  const server = await startServer(env);
  t.after(() => server.close());
  const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
  t.after(() => app.close());
  await app.ready();
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const endpointId = (await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) })).id;
  const play = (url: string) =>
    app.inject({ method: 'POST', url: '/playback', payload: { endpoint_id: endpointId, media: [url] } });
  return { app, play };
}

async function mediaHost(t: TestContext): Promise<{ base: string; requests: IncomingMessage[] }> {
  const wav = readFileSync('prompts/beep.wav');
  const requests: IncomingMessage[] = [];
  const srv = createServer((req, res) => {
    requests.push(req);
    res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return { base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, requests };
}

test('POST /playback refuses loopback and metadata URLs by default with one generic error', async (t) => {
  const { play } = await setup(t, {});
  const host = await mediaHost(t);
  for (const url of [
    `${host.base}/metrics`,
    'http://169.254.169.254/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
  ]) {
    const res = await play(url);
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(res.json(), {
      error: { code: 'MEDIA_FETCH_FAILED', message: `GET ${url}: destination refused or unreachable` },
    });
  }
  assert.equal(host.requests.length, 0);
});

test('POST /playback fetches from loopback when MEDIA_FETCH_ALLOW lists it, and MEDIA_FETCH_DENY refuses a name', async (t) => {
  const { play } = await setup(t, { MEDIA_FETCH_ALLOW: '127.0.0.1', MEDIA_FETCH_DENY: 'media.blocked.example' });
  const host = await mediaHost(t);
  const res = await play(`${host.base}/beep.wav`);
  assert.equal(res.statusCode, 201, res.body);
  assert.equal(host.requests.length, 1);
  const denied = await play('http://media.blocked.example/a.wav');
  assert.equal(
    denied.json().error.message,
    'GET http://media.blocked.example/a.wav: destination refused or unreachable',
  );
});
