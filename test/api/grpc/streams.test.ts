import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startGrpcServer, type GrpcServerHandle } from '../../../src/api/grpc/GrpcServer.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { MediaServer } from '../../../src/control/MediaServer.ts';
import { RtpPeer } from '../../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../../helpers/server.ts';
import { TwilioBotServer } from '../../helpers/TwilioBot.ts';
import { GrpcTestClient } from './grpcClient.ts';

/** Media streams over gRPC: StartStream, GetStream, ListStreams, StopStream against a real server and bot. */
describe('gRPC media streams', () => {
  let server: MediaServer;
  let grpc: GrpcServerHandle;
  let client: GrpcTestClient;
  let bots: TwilioBotServer;
  let peer: RtpPeer;

  before(async () => {
    server = await startServer({ GRPC_PORT: '0' });
    grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
    client = new GrpcTestClient(grpc.port);
    bots = await TwilioBotServer.open({ verify: (req) => req.headers.authorization === 'Bearer tok' });
    peer = await RtpPeer.open();
  });

  after(async () => {
    client.close();
    await grpc.close();
    await server.close();
    await bots.close();
    peer.close();
  });

  test('StartStream connects the bot with the metadata map as customParameters; its result comes back as result_json', async () => {
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
    const started = nextEvent(server, 'stream.started');
    const s = await client.call('StartStream', {
      endpoint_id: ep.id,
      url: bots.url,
      token: 'tok',
      metadata: { order: '42' },
      reconnect: { max_attempts: 0 },
    });
    assert.equal(s.state, 'connecting');
    assert.equal(s.encoding, 'pcmu');
    assert.equal(s.sample_rate, 8000);
    await started;
    const bot = await bots.nextCall(0);
    const start = await bot.waitEvent('start');
    assert.deepEqual(start.msg?.start?.customParameters, { order: '42' });
    const listed = await client.call<{ streams: Array<{ id: string }> }>('ListStreams', {});
    assert.ok(listed.streams.some((x) => x.id === s.id));
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === s.id);
    bot.send({ event: 'result', streamSid: s.id, result: { action: 'transfer', target: 'sip:a@b' } });
    await stopped;
    const got = await client.call('GetStream', { id: s.id });
    assert.equal(got.state, 'stopped');
    assert.equal(got.reason, 'result');
    assert.deepEqual(JSON.parse(String(got.result_json)), { action: 'transfer', target: 'sip:a@b' });
    assert.ok((got.stats as Record<string, number>).connects === 1);
  });

  test('StopStream stops a running stream; a bad URL is INVALID_ARGUMENT, an unknown stream NOT_FOUND', async () => {
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
    const n = bots.calls.length;
    const s = await client.call('StartStream', { endpoint_id: ep.id, url: bots.url, token: 'tok' });
    const bot = await bots.nextCall(n);
    await bot.waitEvent('start');
    const stopped = await client.call('StopStream', { id: s.id });
    assert.equal(stopped.reason, 'stopped');
    await bot.waitEvent('stop');
    await assert.rejects(client.call('StartStream', { endpoint_id: ep.id, url: 'http://x/' }), (e: ServiceError) => {
      assert.equal(e.code, status.INVALID_ARGUMENT);
      return true;
    });
    await assert.rejects(client.call('GetStream', { id: 'nope' }), (e: ServiceError) => {
      assert.equal(e.code, status.NOT_FOUND);
      return true;
    });
  });

  test('StartStream with conference_id makes the bot a virtual participant; the conference ending stops it', async () => {
    await server.conferences.create({ id: 'grpc-bot-room' });
    const n = bots.calls.length;
    const s = await client.call('StartStream', { conference_id: 'grpc-bot-room', url: bots.url, token: 'tok' });
    assert.equal(s.conference_id, 'grpc-bot-room');
    assert.ok(!s.endpoint_id, 'no endpoint');
    assert.equal(s.tracks, 'inbound');
    const bot = await bots.nextCall(n);
    const start = await bot.waitEvent('start');
    assert.deepEqual(start.msg?.start?.customParameters, { conferenceId: 'grpc-bot-room' });
    // The mix arrives every 20 ms (silence in an empty room).
    await bot.waitFor(() => bot.messages('media').length >= 5, 3000);
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === s.id);
    await server.conferences.delete('grpc-bot-room');
    assert.equal((await stopped).reason, 'conference_ended');
    await bot.waitEvent('stop');
    const got = await client.call('GetStream', { id: s.id });
    assert.equal(got.reason, 'conference_ended');
    await assert.rejects(client.call('StartStream', { conference_id: 'nowhere', url: bots.url }), (e: ServiceError) => {
      assert.equal(e.code, status.NOT_FOUND);
      return true;
    });
  });
});
