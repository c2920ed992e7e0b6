import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { startGrpcServer, type GrpcServerHandle } from '../../../src/api/grpc/GrpcServer.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { MediaServer } from '../../../src/control/MediaServer.ts';
import { MediaFlowEngines } from '../../../src/control/MediaFlowEngines.ts';
import { linearToUlaw, ulawToLinear } from '../../../src/media/codecs/g711.ts';
import { FlowService } from '../../../src/flows/FlowService.ts';
import { RtpPeer } from '../../helpers/RtpPeer.ts';
import { startServer } from '../../helpers/server.ts';
import { GrpcTestClient, cancelStream, nextMessage, streamError, type EventMessage } from './grpcClient.ts';

/** Rejects unless `p` fails with gRPC status `code`; returns the error for further checks. */
async function rejectsWith(p: Promise<unknown>, code: status): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    assert.equal(e.code, code, `expected ${status[code]}, got ${status[e.code]}: ${e.details}`);
    return e;
  }
  assert.fail(`expected ${status[code]}, the call succeeded`);
}

/**
 * The gRPC API over a real MediaServer (one worker) on 127.0.0.1, port 0, and a grpc-js client
 * built from the same .proto; RTP peers are real UDP sockets.
 */
describe('gRPC MediaServer service', () => {
  let server: MediaServer;
  let grpc: GrpcServerHandle;
  let client: GrpcTestClient;
  let flows: FlowService;
  const peers: RtpPeer[] = [];

  const peer = async (): Promise<RtpPeer> => {
    const p = await RtpPeer.open();
    peers.push(p);
    return p;
  };

  before(async () => {
    server = await startServer(
      { PROMPTS_DIR: path.resolve('prompts'), GRPC_PORT: '0' },
      { ownEvents: ['grpctest.', 'other.'] },
    );
    flows = new FlowService({ engines: MediaFlowEngines.forServer(server), emit: server.events.forFlows() });
    flows.put('grpc-bye', 'name: grpc-bye\nstart: bye\nsteps:\n  bye: { type: hangup, cause: done }\n');
    grpc = await startGrpcServer({
      control: server,
      config: server.config,
      logger: silentLogger,
      flows,
    });
    client = new GrpcTestClient(grpc.port);
  });

  after(async () => {
    client.close();
    await grpc.close();
    flows.close();
    await server.close();
    for (const p of peers) p.close();
  });

  test('CreateEndpoint with an SDP offer answers; Get, List, Update (hold) and Delete follow the REST contract', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcma', 'pcmu']), affinity: 'call-1' });
    assert.equal(ep.state, 'active');
    assert.match(ep.sdp as string, /^m=audio \d+ RTP\/AVP 8 /m, "the answer picks the caller's first codec");
    assert.deepEqual(ep.codec, { name: 'pcma', payload_type: 8, clock_rate: 8000, channels: 1, ptime: 20 });
    assert.deepEqual(ep.remote, { ip: '127.0.0.1', rtp_port: caller.port, rtcp_port: caller.rtcpPort });
    assert.equal(ep.affinity, 'call-1');
    assert.equal(ep.bridge_id, undefined, 'a null of the REST shape is an unset optional field');
    const stats = ep.stats as Record<string, unknown>;
    assert.equal(stats.packets_received, 0);
    assert.equal(stats.rtt_ms, undefined);

    // the endpoint really terminates RTP: what the caller sends is counted
    for (let i = 0; i < 5; i++) caller.send(ep.rtp_port as number, Buffer.alloc(160, 0xd5), 8);
    const received = async () =>
      ((await client.call('GetEndpoint', { id: ep.id })).stats as { packets_received: number }).packets_received;
    // the stats are read from the worker on request; poll (bounded) until the datagrams arrived
    let count = await received();
    for (let i = 0; i < 200 && count < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      count = await received();
    }
    assert.equal(count, 5);

    const list = await client.call<{ endpoints: Array<{ id: string }> }>('ListEndpoints');
    assert.ok(list.endpoints.some((e) => e.id === ep.id));

    const held = await client.call('UpdateEndpoint', { id: ep.id, direction: 'sendonly' });
    assert.equal(held.direction, 'sendonly');
    assert.match(held.sdp as string, /a=sendonly/);

    assert.deepEqual(await client.call('DeleteEndpoint', { id: ep.id }), {});
    const gone = await rejectsWith(client.call('GetEndpoint', { id: ep.id }), status.NOT_FOUND);
    assert.match(gone.details, /^ENDPOINT_NOT_FOUND: /);
    assert.deepEqual(gone.metadata.get('error-code'), ['ENDPOINT_NOT_FOUND']);
  });

  test('SetTalkDetect, GetTalkDetect and ClearTalkDetect follow POST/GET/DELETE /endpoints/:id/talk-detect', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcmu']) });
    const on = await client.call('SetTalkDetect', { endpoint_id: ep.id, threshold_dbfs: -30, silence_ms: 800 });
    assert.deepEqual(on, {
      endpoint_id: ep.id,
      enabled: true,
      talking: false,
      threshold_dbfs: -30,
      silence_threshold_dbfs: -40,
      min_talk_ms: 60,
      silence_ms: 800,
    });
    assert.equal((await client.call('GetTalkDetect', { id: ep.id })).enabled, true);
    await client.call('ClearTalkDetect', { id: ep.id });
    assert.equal((await client.call('GetTalkDetect', { id: ep.id })).enabled, false);
    await rejectsWith(client.call('SetTalkDetect', { endpoint_id: ep.id, threshold_dbfs: 3 }), status.INVALID_ARGUMENT);
    await rejectsWith(client.call('SetTalkDetect', { endpoint_id: 'nope' }), status.NOT_FOUND);
    await client.call('DeleteEndpoint', { id: ep.id });
  });
  test('CreateEndpoint without an SDP offers; UpdateEndpoint with the answer activates it', async () => {
    const callee = await peer();
    const ep = await client.call('CreateEndpoint', { codecs: ['pcmu'] });
    assert.equal(ep.state, 'offered');
    assert.match(ep.sdp as string, /^m=audio \d+ RTP\/AVP 0/m);
    const answered = await client.call('UpdateEndpoint', { id: ep.id, remote_sdp: callee.offer(['pcmu']) });
    assert.equal(answered.state, 'active');
    assert.equal((answered.remote as { rtp_port: number }).rtp_port, callee.port);
    await client.call('DeleteEndpoint', { id: ep.id });
  });

  test('bad input is INVALID_ARGUMENT naming the REST code: INVALID_SDP, schema violations, NO_COMMON_CODEC', async () => {
    const bad = await rejectsWith(
      client.call('CreateEndpoint', { remote_sdp: 'this is not SDP' }),
      status.INVALID_ARGUMENT,
    );
    assert.match(bad.details, /^INVALID_SDP: /);
    assert.deepEqual(bad.metadata.get('error-code'), ['INVALID_SDP']);

    const dir = await rejectsWith(client.call('CreateEndpoint', { direction: 'sideways' }), status.INVALID_ARGUMENT);
    assert.equal(
      dir.details,
      'VALIDATION_ERROR: request/direction must be one of: sendrecv, sendonly, recvonly, inactive',
    );
    const codec = await rejectsWith(client.call('CreateEndpoint', { codecs: ['g729'] }), status.INVALID_ARGUMENT);
    assert.match(codec.details, /^VALIDATION_ERROR: request\/codecs\/0 must be one of/);
    const noId = await rejectsWith(client.call('GetEndpoint', {}), status.INVALID_ARGUMENT);
    assert.match(noId.details, /^VALIDATION_ERROR: request\/id /);
    const emptyUpdate = await rejectsWith(client.call('UpdateEndpoint', { id: 'x' }), status.INVALID_ARGUMENT);
    assert.match(emptyUpdate.details, /^VALIDATION_ERROR: /);

    const g722Only = await peer();
    const none = await rejectsWith(
      client.call('CreateEndpoint', { remote_sdp: g722Only.offer(['g722']), codecs: ['pcmu'] }),
      status.INVALID_ARGUMENT,
    );
    assert.match(none.details, /^NO_COMMON_CODEC: /);
  });

  test('CreateBridge relays RTP between two legs; Get, List, Delete; a bridged leg cannot be bridged again', async () => {
    const a = await peer();
    const b = await peer();
    const epA = await client.call('CreateEndpoint', { remote_sdp: a.offer(['pcmu']), affinity: 'bridge-call' });
    const epB = await client.call('CreateEndpoint', { remote_sdp: b.offer(['pcmu']), affinity: 'bridge-call' });
    const bridge = await client.call('CreateBridge', { endpoint_a: epA.id, endpoint_b: epB.id });
    assert.equal(bridge.mode, 'relay');
    assert.equal(bridge.cross_worker, false);
    assert.deepEqual(await client.call('GetBridge', { id: bridge.id }), bridge);
    const list = await client.call<{ bridges: Array<{ id: string }> }>('ListBridges');
    assert.ok(list.bridges.some((x) => x.id === bridge.id));
    assert.equal((await client.call('GetEndpoint', { id: epA.id })).bridge_id, bridge.id);

    const payload = Buffer.alloc(160, 0x7e);
    for (let i = 0; i < 5; i++) a.send(epA.rtp_port as number, payload, 0);
    await b.waitFor(5);
    assert.deepEqual(b.received[0]?.payload, payload, 'leg B hears leg A');

    const twice = await rejectsWith(
      client.call('CreateBridge', { endpoint_a: epA.id, endpoint_b: epB.id }),
      status.FAILED_PRECONDITION,
    );
    assert.match(twice.details, /^[A-Z_]+: /);

    assert.deepEqual(await client.call('DeleteBridge', { id: bridge.id }), {});
    await rejectsWith(client.call('GetBridge', { id: bridge.id }), status.NOT_FOUND);
    await rejectsWith(client.call('DeleteBridge', { id: bridge.id }), status.NOT_FOUND);
    await rejectsWith(
      client.call('CreateBridge', { endpoint_a: epA.id, endpoint_b: 'no-such-endpoint' }),
      status.NOT_FOUND,
    );
    await client.call('DeleteEndpoint', { id: epA.id });
    await client.call('DeleteEndpoint', { id: epB.id });
  });

  test('StartPlayback over gRPC plays to the caller and finishes with a playback.finished event on the Events stream', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcmu']) });
    // `since` replays whatever is emitted before the server has registered the stream
    const stream = client.events({ since: server.events.lastSeq, types: ['playback.'] });
    const finished = nextMessage(stream, (m) => m.type === 'playback.finished');
    const started = nextMessage(stream, (m) => m.type === 'playback.started');
    const pb = await client.call('StartPlayback', { endpoint_id: ep.id, media: ['prompt:beep'] });
    assert.equal(pb.endpoint_id, ep.id);
    assert.deepEqual(pb.media, ['prompt:beep']);
    assert.equal(JSON.parse((await started).json).playback_id, pb.id);
    const done = JSON.parse((await finished).json) as Record<string, unknown>;
    assert.equal(done.playback_id, pb.id);
    assert.equal(done.endpoint_id, ep.id);
    assert.equal(done.reason, 'done');
    assert.ok(caller.received.length > 5, 'the caller received the prompt as RTP');
    const after = await client.call('GetPlayback', { id: pb.id });
    assert.equal(after.state, 'finished');
    assert.equal(after.reason, 'done');
    cancelStream(stream);
    await client.call('DeleteEndpoint', { id: ep.id });
  });

  test('StopPlayback stops a looping playback with reason stopped; bad playlists are INVALID_ARGUMENT', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcmu']) });
    const pb = await client.call('StartPlayback', {
      endpoint_id: ep.id,
      media: ['prompt:hold-music'],
      loop_forever: true,
      barge_in_digits: '#',
    });
    assert.equal(pb.loop_forever, true);
    assert.equal(pb.barge_in_digits, '#');
    assert.equal(pb.loop, 'loop_forever', 'proto-loader names the oneof member that is set');
    assert.equal((await client.call('PausePlayback', { id: pb.id })).state, 'paused');
    assert.equal((await client.call('ResumePlayback', { id: pb.id })).state, 'playing');
    const list = await client.call<{ playbacks: Array<{ id: string }> }>('ListPlaybacks');
    assert.ok(list.playbacks.some((p) => p.id === pb.id));
    const stopped = await client.call('StopPlayback', { id: pb.id });
    assert.equal(stopped.state, 'finished');
    assert.equal(stopped.reason, 'stopped');
    await rejectsWith(client.call('PausePlayback', { id: pb.id }), status.FAILED_PRECONDITION);
    await rejectsWith(client.call('StopPlayback', { id: 'no-such-playback' }), status.NOT_FOUND);
    const empty = await rejectsWith(
      client.call('StartPlayback', { endpoint_id: ep.id, media: [] }),
      status.INVALID_ARGUMENT,
    );
    assert.match(empty.details, /^VALIDATION_ERROR: request\/media /);
    const both = await rejectsWith(client.call('StartPlayback', { media: ['prompt:beep'] }), status.INVALID_ARGUMENT);
    assert.match(both.details, /^INVALID_PLAYBACK: /);
    await rejectsWith(client.call('StartPlayback', { endpoint_id: 'nope', media: ['prompt:beep'] }), status.NOT_FOUND);
    await client.call('DeleteEndpoint', { id: ep.id });
  });

  test('StartRecording and StopRecording give the finalised file; SendDtmf sends RFC 4733 events to the peer', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcmu']) });
    const rec = await client.call('StartRecording', {
      endpoint_id: ep.id,
      format: 'wav',
      name: `grpc-test-${process.pid}`,
    });
    assert.equal(rec.format, 'wav');
    assert.equal(rec.endpoint_id, ep.id);
    assert.equal(rec.bridge_id, undefined);
    for (let i = 0; i < 10; i++) caller.send(ep.rtp_port as number, Buffer.alloc(160, 0xff), 0);
    // the datagrams and the pause reach the worker by different paths: pause once they arrived
    const received = async () =>
      ((await client.call('GetEndpoint', { id: ep.id })).stats as { packets_received: number }).packets_received;
    for (let i = 0; i < 200 && (await received()) < 10; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await client.call('PauseRecording', { id: rec.id })).state, 'paused');
    assert.equal((await client.call('ResumeRecording', { id: rec.id })).state, 'recording');
    const recs = await client.call<{ recordings: Array<{ id: string }> }>('ListRecordings');
    assert.ok(recs.recordings.some((r) => r.id === rec.id));

    const dtmfSent = new Promise<Record<string, unknown>>((resolve) => {
      const off = server.events.subscribe((e) => {
        if (e.type === 'dtmf.sent' && e.endpoint_id === ep.id) {
          off();
          resolve(e);
        }
      });
    });
    const accepted = await client.call('SendDtmf', { endpoint_id: ep.id, digits: '1#', duration_ms: 60 });
    assert.match(String(accepted.id), /^dtmf-/);
    assert.deepEqual({ ...accepted, id: 'x' }, { id: 'x', endpoint_id: ep.id, digits: '1#', duration_ms: 60 });
    const sent = await dtmfSent;
    assert.deepEqual([sent.id, sent.method], [accepted.id, 'rfc4733']);
    const events = caller.received.filter((p) => p.pt === 101);
    assert.deepEqual([...new Set(events.map((p) => p.payload[0]))], [1, 11], 'events 1 and # (RFC 4733 section 3.2)');

    const result = await client.call('StopRecording', { id: rec.id });
    assert.equal(result.id, rec.id);
    assert.equal(result.cause, 'stopped');
    assert.ok((result.bytes as number) > 44, 'more than a WAV header');
    assert.equal(typeof result.duration_ms, 'number');
    await import('node:fs/promises').then((fs) => fs.rm(result.path as string, { force: true }));

    const fmt = await rejectsWith(
      client.call('StartRecording', { endpoint_id: ep.id, format: 'flac' }),
      status.INVALID_ARGUMENT,
    );
    assert.match(fmt.details, /^VALIDATION_ERROR: request\/format must be one of: wav, mp3, opus/);
    const digits = await rejectsWith(
      client.call('SendDtmf', { endpoint_id: ep.id, digits: '12x' }),
      status.INVALID_ARGUMENT,
    );
    assert.match(digits.details, /^VALIDATION_ERROR: request\/digits /);
    await rejectsWith(client.call('SendDtmf', { endpoint_id: 'nope', digits: '1' }), status.NOT_FOUND);
    const long = await rejectsWith(
      client.call('SendDtmf', { endpoint_id: ep.id, digits: '1'.repeat(64), duration_ms: 5000 }),
      status.INVALID_ARGUMENT,
    );
    assert.match(long.details, /^DTMF_TOO_LONG: /);
    await client.call('DeleteEndpoint', { id: ep.id });
  });

  test('StartFlow hands the endpoint to a flow; its outcome arrives as flow.completed', async () => {
    const caller = await peer();
    const ep = await client.call('CreateEndpoint', { remote_sdp: caller.offer(['pcmu']) });
    const stream = client.events({ since: server.events.lastSeq, types: ['flow.completed'] });
    const completed = nextMessage(stream, () => true);
    const s = await client.call('StartFlow', {
      endpoint_id: ep.id,
      flow: 'grpc-bye',
      variables_json: '{"caller":"+15550100"}',
    });
    assert.equal(s.flow, 'grpc-bye');
    const out = JSON.parse((await completed).json) as { session_id: string; outcome: { action: string } };
    assert.equal(out.session_id, s.session_id);
    assert.equal(out.outcome.action, 'hangup');
    cancelStream(stream);
    const noFlow = await rejectsWith(
      client.call('StartFlow', { endpoint_id: ep.id, flow: 'no-such-flow' }),
      status.NOT_FOUND,
    );
    assert.match(noFlow.details, /^FLOW_NOT_FOUND: /);
    const vars = await rejectsWith(
      client.call('StartFlow', { endpoint_id: ep.id, flow: 'grpc-bye', variables_json: '[1]' }),
      status.INVALID_ARGUMENT,
    );
    assert.match(vars.details, /variables_json must be a JSON object/);
    // the flow hung up: its endpoint is gone
    await client
      .call('DeleteEndpoint', { id: ep.id })
      .catch((err: ServiceError) => assert.equal(err.code, status.NOT_FOUND));
  });

  test('conferences: Create, AddParticipant (the others hear a member), Update (mute), Get, RemoveParticipant, Delete', async () => {
    const room = `grpc-room-${process.pid}`;
    const conf = await client.call('CreateConference', { id: room, entry_tone: false, exit_tone: false });
    assert.equal(conf.id, room);
    assert.equal(conf.sample_rate, 8000);
    const [a, b] = [await peer(), await peer()];
    const epA = await client.call('CreateEndpoint', { remote_sdp: a.offer(['pcmu']), affinity: room });
    const epB = await client.call('CreateEndpoint', { remote_sdp: b.offer(['pcmu']), affinity: room });
    const pa = await client.call('AddParticipant', { id: room, endpoint_id: epA.id, gain_db: -3 });
    assert.equal(pa.state, 'active');
    assert.equal(pa.gain_db, -3);
    assert.equal(pa.codec, 'pcmu');
    await client.call('AddParticipant', { id: room, endpoint_id: epB.id });

    // A speaks a 1 kHz tone (ITU-T G.711 mu-law, 20 ms frames); B hears it in the mix
    const frame = Buffer.alloc(160);
    let phase = 0;
    const loud = (p: { payload: Buffer }) => {
      let peak = 0;
      for (const c of p.payload) peak = Math.max(peak, Math.abs(ulawToLinear(c)));
      return peak > 2000;
    };
    for (let n = 0; n < 100 && !b.received.some(loud); n++) {
      for (let i = 0; i < 160; i++)
        frame[i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * phase++) / 8000)));
      a.send(epA.rtp_port as number, frame, 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(b.received.some(loud), 'B heard A through the conference mix');

    const muted = await client.call('UpdateParticipant', { id: room, endpoint_id: epA.id, muted: true });
    assert.equal(muted.muted, true);
    const info = await client.call<{ participants: Array<{ endpoint_id: string; muted: boolean }> }>('GetConference', {
      id: room,
    });
    assert.deepEqual(
      info.participants.map((p) => [p.endpoint_id, p.muted]),
      [
        [epA.id, true],
        [epB.id, false],
      ],
    );
    const list = await client.call<{ conferences: Array<{ id: string }> }>('ListConferences');
    assert.ok(list.conferences.some((c) => c.id === room));
    const noChange = await rejectsWith(
      client.call('UpdateParticipant', { id: room, endpoint_id: epA.id }),
      status.INVALID_ARGUMENT,
    );
    assert.match(noChange.details, /^VALIDATION_ERROR: /);

    const music = await client.call('StartPlayback', {
      conference_id: room,
      media: ['prompt:hold-music'],
      loop_forever: true,
    });
    assert.equal(music.conference_id, room);
    assert.deepEqual((await client.call<{ playbacks: string[] }>('GetConference', { id: room })).playbacks, [music.id]);
    assert.equal((await client.call('StopPlayback', { id: music.id })).reason, 'stopped');

    assert.deepEqual(await client.call('RemoveParticipant', { id: room, endpoint_id: epB.id }), {});
    const again = await rejectsWith(
      client.call('RemoveParticipant', { id: room, endpoint_id: epB.id }),
      status.NOT_FOUND,
    );
    assert.match(again.details, /^PARTICIPANT_NOT_FOUND: /);
    assert.deepEqual(await client.call('DeleteConference', { id: room }), {});
    await rejectsWith(client.call('GetConference', { id: room }), status.NOT_FOUND);
    await client.call('DeleteEndpoint', { id: epA.id });
    await client.call('DeleteEndpoint', { id: epB.id });
  });

  test('every RPC of the .proto is implemented (none answers UNIMPLEMENTED when the engines are given)', async () => {
    const methods = Object.keys((client.client.constructor as unknown as { service: Record<string, unknown> }).service);
    assert.ok(methods.length >= 31, `${methods.length} methods`);
    for (const method of methods) {
      if (method === 'Events') continue;
      await client.call(method, {}).catch((err: ServiceError) => {
        assert.notEqual(err.code, status.UNIMPLEMENTED, `${method}: ${err.details}`);
        assert.notEqual(err.code, status.INTERNAL, `${method}: ${err.details}`);
      });
    }
  });

  test('Events replays what followed `since`, then streams live events, filtered by type prefix', async () => {
    const since = server.events.lastSeq;
    const e1 = server.events.emit('grpctest.one', { n: 1 });
    server.events.emit('other.skip', { n: 2 });
    const e3 = server.events.emit('grpctest.three', { n: 3, nested: { ok: true } });
    const stream = client.events({ since, types: ['grpctest.'] });
    const got: EventMessage[] = [];
    const four = new Promise<void>((resolve) => {
      stream.on('data', (m: EventMessage) => {
        got.push(m);
        if (got.length === 1) server.events.emit('grpctest.live', { n: 4 });
        if (m.type === 'grpctest.live') resolve();
      });
    });
    // the replay is sent before any live event, so the first message can only be e1
    await four;
    assert.deepEqual(
      got.map((m) => m.type),
      ['grpctest.one', 'grpctest.three', 'grpctest.live'],
    );
    assert.equal(got[0]?.seq, e1.seq);
    assert.equal(got[1]?.seq, e3.seq);
    assert.ok((got[2]?.seq ?? 0) > e3.seq);
    assert.deepEqual(JSON.parse(got[1]?.json ?? '{}'), e3, 'json is the whole event as the WebSocket sends it');
    assert.equal(got[1]?.time, e3.time);
    const closed = streamError(stream);
    stream.cancel();
    assert.equal((await closed).code, status.CANCELLED);
  });

  test('Events with a since from before a restart starts with an events.gap notice', async () => {
    const stream = client.events({ since: server.events.lastSeq + 1000 });
    const gap = await nextMessage(stream, () => true);
    assert.equal(gap.type, 'events.gap');
    assert.equal(gap.seq, 0);
    const body = JSON.parse(gap.json) as Record<string, number>;
    assert.equal(body.requested_since, server.events.lastSeq + 1000);
    assert.equal(body.last_seq, server.events.lastSeq);
    cancelStream(stream);
  });

  test('a cancelled Events stream leaves the bus', async () => {
    const before = server.events.listenerCount;
    const stream = client.events({});
    const first = nextMessage(stream, (m) => m.type === 'grpctest.ping');
    for (let i = 0; i < 100 && server.events.listenerCount === before; i++) await new Promise((r) => setTimeout(r, 5));
    server.events.emit('grpctest.ping');
    await first;
    const closed = streamError(stream);
    stream.cancel();
    await closed;
    for (let i = 0; i < 100 && server.events.listenerCount > before; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.events.listenerCount, before);
  });
});

describe('gRPC auth and limits', () => {
  test('with API_TOKEN every call needs authorization: Bearer <token>, compared exactly', async (t) => {
    const server = await startServer({ API_TOKEN: 's3cret-token', GRPC_PORT: '0' }, { ownEvents: ['grpctest.'] });
    t.after(() => server.close());
    const grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
    t.after(() => grpc.close());
    const anonymous = new GrpcTestClient(grpc.port);
    const wrong = new GrpcTestClient(grpc.port, 's3cret-tokeX');
    const good = new GrpcTestClient(grpc.port, 's3cret-token');
    t.after(() => {
      anonymous.close();
      wrong.close();
      good.close();
    });

    const none = await rejectsWith(anonymous.call('ListEndpoints'), status.UNAUTHENTICATED);
    assert.match(none.details, /^UNAUTHORIZED: /);
    await rejectsWith(wrong.call('ListEndpoints'), status.UNAUTHENTICATED);
    const basic = new Metadata();
    basic.set('authorization', 'Basic s3cret-token');
    await rejectsWith(anonymous.call('ListEndpoints', {}, basic), status.UNAUTHENTICATED);
    assert.deepEqual(await good.call('ListEndpoints'), {});
    assert.equal((await streamError(anonymous.events({}))).code, status.UNAUTHENTICATED);
    // the server's own listeners (metrics count flow sessions) are there before the stream's
    const listeners = server.events.listenerCount;
    const live = good.events({});
    const ping = nextMessage(live, (m) => m.type === 'grpctest.auth');
    for (let i = 0; i < 100 && server.events.listenerCount === listeners; i++)
      await new Promise((r) => setTimeout(r, 5));
    server.events.emit('grpctest.auth');
    assert.equal((await ping).type, 'grpctest.auth');
    cancelStream(live);
    // the engines come with the MediaServer; flows the server was started without answer UNIMPLEMENTED
    await rejectsWith(good.call('StartPlayback', { endpoint_id: 'x', media: ['prompt:beep'] }), status.NOT_FOUND);
    await rejectsWith(good.call('StartFlow', { endpoint_id: 'x', flow: 'f' }), status.UNIMPLEMENTED);
  });

  test('without a token, calls need no metadata', async (t) => {
    const server = await startServer({ GRPC_PORT: '0' }, { ownEvents: ['grpctest.'] });
    t.after(() => server.close());
    const grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
    t.after(() => grpc.close());
    const anonymous = new GrpcTestClient(grpc.port);
    t.after(() => anonymous.close());
    const withToken = new GrpcTestClient(grpc.port, 'whatever');
    t.after(() => withToken.close());
    assert.deepEqual(await anonymous.call('ListBridges'), {});
    assert.deepEqual(await withToken.call('ListBridges'), {});
  });

  test('a reader that stops reading is ended with RESOURCE_EXHAUSTED, after the events it was sent, without stalling the bus', async (t) => {
    const server = await startServer({ GRPC_PORT: '0' }, { ownEvents: ['grpctest.'] });
    t.after(() => server.close());
    const grpc = await startGrpcServer({
      control: server,
      config: server.config,
      logger: silentLogger,
      events: { maxQueuedBytes: 64 * 1024 },
    });
    t.after(() => grpc.close());
    const slow = new GrpcTestClient(grpc.port);
    t.after(() => slow.close());
    const baseline = server.events.listenerCount;
    const stream = slow.events({});
    stream.pause();
    // wait until the stream is on the bus: a first event must reach it
    for (let i = 0; i < 200 && server.events.listenerCount === baseline; i++)
      await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.events.listenerCount, baseline + 1);

    // bursts of 1 KiB events, yielding between them so HTTP/2 flow control can fill up
    const filler = 'x'.repeat(1000);
    let emitted = 0;
    let slowestBurstMs = 0;
    for (let burst = 0; burst < 2000 && server.events.listenerCount > baseline; burst++) {
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) {
        server.events.emit('grpctest.flood', { filler, i: emitted++ });
      }
      slowestBurstMs = Math.max(slowestBurstMs, performance.now() - t0);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(server.events.listenerCount, baseline, 'the slow stream left the bus');
    assert.ok(emitted < 100_000, `cut off after ${emitted} events`);
    assert.ok(
      slowestBurstMs < 500,
      `emitting never waited on the reader (slowest burst ${slowestBurstMs.toFixed(1)} ms)`,
    );

    // the reader catches up: it gets a gapless prefix of the flood, then the status
    const seqs: number[] = [];
    stream.on('data', (m: EventMessage) => seqs.push(m.seq));
    const ended = streamError(stream);
    stream.resume();
    const err = await ended;
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^SLOW_CONSUMER: /);
    assert.ok(seqs.length > 0 && seqs.length < emitted, `${seqs.length} of ${emitted} delivered`);
    for (let i = 1; i < seqs.length; i++)
      assert.equal(seqs[i], (seqs[i - 1] ?? 0) + 1, 'no event skipped before the cut');
  });

  test('close() ends open Events streams with UNAVAILABLE and is idempotent', async (t) => {
    const server = await startServer({ GRPC_PORT: '0' }, { ownEvents: ['grpctest.'] });
    t.after(() => server.close());
    const grpc = await startGrpcServer({ control: server, config: server.config, logger: silentLogger });
    const c = new GrpcTestClient(grpc.port);
    t.after(() => c.close());
    const listeners = server.events.listenerCount;
    const stream = c.events({});
    const ping = nextMessage(stream, (m) => m.type === 'grpctest.close');
    for (let i = 0; i < 100 && server.events.listenerCount === listeners; i++)
      await new Promise((r) => setTimeout(r, 5));
    server.events.emit('grpctest.close');
    await ping;
    const ended = streamError(stream);
    await Promise.all([grpc.close(), grpc.close()]);
    const err = await ended;
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /^SHUTTING_DOWN: /);
    assert.equal(server.events.listenerCount, listeners, 'the stream left the bus');
  });
});
