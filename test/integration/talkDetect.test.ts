import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { needs } from '../helpers/peers.ts';
import { startServer } from '../helpers/server.ts';
import { noiseUlaw, packetLevels, soundUlaw, TalkingCaller } from '../helpers/TalkingCaller.ts';

/**
 * Talk detection on an endpoint (POST /endpoints/:id/talk-detect) with recorded speech sent over
 * RTP by a caller that sends a packet every 20 ms: where the events land is measured on the
 * caller's own send schedule (packets), not against wall-clock constants.
 */

interface Call {
  server: MediaServer;
  app: FastifyInstance;
  caller: TalkingCaller;
  endpointId: string;
  /** Our SDP answer. */
  sdp: string;
  /** Events of the endpoint with the caller's packet count when each arrived. */
  seen: Array<{ e: ServerEvent; at: number }>;
}

async function setup(t: { after(fn: () => unknown): void }, opts: { cn?: boolean } = {}): Promise<Call> {
  const server = await startServer();
  t.after(() => server.close());
  const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
  await app.ready();
  t.after(() => app.close());
  const caller = await TalkingCaller.open();
  t.after(() => caller.close());
  if (opts.cn === true) caller.idle = 'cn';
  const ep = await server.createEndpoint({
    remote_sdp: opts.cn === true ? caller.cnOffer() : caller.peer.offer(['pcmu']),
  });
  const seen: Call['seen'] = [];
  const off = server.events.subscribe((e) => {
    if (e.type.startsWith('endpoint.talking_') && e.endpoint_id === ep.id) seen.push({ e, at: caller.sent });
  });
  t.after(off);
  caller.start(ep.rtp_port);
  return { server, app, caller, endpointId: ep.id, sdp: ep.sdp, seen };
}

/** Index of the first and last packet at or above `db` dBFS. */
function loudSpan(levels: number[], db: number): { first: number; last: number } {
  const first = levels.findIndex((l) => l >= db);
  let last = levels.length - 1;
  while (last >= 0 && levels[last]! < db) last--;
  return { first, last };
}

test(
  'talk detection on recorded speech over RTP: talking_started at the onset plus min_talk_ms, talking_stopped after silence_ms with the talk length; none on silence or low noise',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { app, caller, endpointId, seen } = await setup(t);
    const res = await app.inject({
      method: 'POST',
      url: `/endpoints/${endpointId}/talk-detect`,
      payload: { threshold_dbfs: -35, min_talk_ms: 60, silence_ms: 400 },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      endpoint_id: endpointId,
      enabled: true,
      talking: false,
      threshold_dbfs: -35,
      silence_threshold_dbfs: -45,
      min_talk_ms: 60,
      silence_ms: 400,
    });
    // Silence, then a second of low noise (comfort-noise level): no event.
    const noise = await noiseUlaw(1, 0.002);
    assert.ok(Math.max(...packetLevels(noise)) < -50, 'the noise stays below -50 dBFS');
    caller.say(noise);
    const speech = await soundUlaw('all-circuits-busy-now');
    const levels = packetLevels(speech);
    const first = caller.say(speech);
    await caller.drained(40);
    // The talk as this test measures it: first and last packets at or above the threshold.
    const { first: onset, last } = loudSpan(levels, -35);
    const onsetAt = first + onset;
    const lastAt = first + last;
    assert.equal(seen.length, 2, JSON.stringify(seen));
    const [started, stopped] = seen as [Call['seen'][0], Call['seen'][0]];
    assert.equal(started.e.type, 'endpoint.talking_started');
    assert.equal(stopped.e.type, 'endpoint.talking_stopped');
    // Started once min_talk_ms (3 packets) of talk had arrived: not before, and within 10 packets.
    const startLag = started.at - onsetAt;
    assert.ok(startLag >= 3 && startLag <= 3 + 10, `talking_started ${startLag} packets after the onset`);
    // Stopped once silence_ms (20 packets) of silence followed the last loud packet.
    const stopLag = stopped.at - lastAt;
    assert.ok(stopLag >= 20 && stopLag <= 20 + 10, `talking_stopped ${stopLag} packets after the last loud one`);
    // The length reported is the talk's, the closing silence left out (within two packets).
    const talkMs = (last - onset + 1) * 20;
    const duration = Number(stopped.e.duration_ms);
    t.diagnostic(`started +${startLag} packets, stopped +${stopLag} packets, duration_ms ${duration} for ${talkMs}`);
    assert.ok(Math.abs(duration - talkMs) <= 40, `duration_ms ${duration} for ${talkMs} ms of talk`);

    // Off: the same speech again gives nothing.
    const del = await app.inject({ method: 'DELETE', url: `/endpoints/${endpointId}/talk-detect` });
    assert.equal(del.statusCode, 204);
    const get = await app.inject({ method: 'GET', url: `/endpoints/${endpointId}/talk-detect` });
    assert.equal(get.json().enabled, false);
    caller.say(speech);
    await caller.drained(30);
    assert.equal(seen.length, 2, 'no event once talk detection is off');
  },
);

test(
  'a caller that falls silent with comfort noise only (DTX, RFC 3389) still ends the talk after silence_ms; comfort noise alone starts none',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { app, caller, endpointId, sdp, seen } = await setup(t, { cn: true });
    assert.match(sdp, /a=rtpmap:13 CN\/8000/, 'comfort noise negotiated');
    const res = await app.inject({
      method: 'POST',
      url: `/endpoints/${endpointId}/talk-detect`,
      payload: { silence_ms: 400 },
    });
    assert.equal(res.statusCode, 200, res.body);
    // A second of loud comfort noise (-30 dBov): no audio packet, no talk.
    caller.cnLevel = 30;
    await caller.drained(50);
    assert.equal(seen.length, 0, 'comfort noise is not talk');
    const speech = await soundUlaw('all-circuits-busy-now');
    const levels = packetLevels(speech);
    const first = caller.say(speech);
    await caller.drained(50);
    let last = levels.length - 1;
    while (levels[last]! < -45) last--;
    assert.deepEqual(
      seen.map((s) => s.e.type),
      ['endpoint.talking_started', 'endpoint.talking_stopped'],
    );
    // After the last audio packet nothing but CN arrives: the media clock feeds the silence.
    const stopLag = seen[1]!.at - (first + last);
    t.diagnostic(`talking_stopped ${stopLag} ticks after the last audio above the silence threshold`);
    assert.ok(stopLag >= 20 && stopLag <= 20 + 3 + 10, `talking_stopped ${stopLag} ticks after the talk`);
  },
);

test('POST /endpoints/:id/talk-detect refuses bad thresholds (400) and unknown endpoints (404)', async (t) => {
  const { app, endpointId } = await setup(t);
  const bad = await app.inject({
    method: 'POST',
    url: `/endpoints/${endpointId}/talk-detect`,
    payload: { threshold_dbfs: 6 },
  });
  assert.equal(bad.statusCode, 400, bad.body);
  const extra = await app.inject({
    method: 'POST',
    url: `/endpoints/${endpointId}/talk-detect`,
    payload: { silence: 3 },
  });
  assert.equal(extra.statusCode, 400, extra.body);
  const missing = await app.inject({ method: 'POST', url: '/endpoints/nope/talk-detect', payload: {} });
  assert.equal(missing.statusCode, 404, missing.body);
  assert.equal(missing.json().error.code, 'ENDPOINT_NOT_FOUND');
});

test(
  'playback with barge_in_speech stops when the caller starts talking (reason barge_in, no digit); without it the prompt plays on',
  needs('sox', 'asterisk-sounds'),
  async (t) => {
    const { server, app, caller, endpointId } = await setup(t);
    const speech = await soundUlaw('all-circuits-busy-now');
    const onset = packetLevels(speech).findIndex((l) => l >= -35);
    const start = async (bargeInSpeech: boolean): Promise<string> => {
      const res = await app.inject({
        method: 'POST',
        url: '/playback',
        payload: { endpoint_id: endpointId, media: ['tone:440:5000'], barge_in_speech: bargeInSpeech },
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id as string;
    };
    const finished = (id: string): Promise<ServerEvent> =>
      new Promise((resolve) => {
        const off = server.events.subscribe((e) => {
          if (e.type === 'playback.finished' && e.playback_id === id) {
            off();
            resolve(e);
          }
        });
      });
    // With barge-in on speech: stopped soon after the caller starts talking.
    const id = await start(true);
    const done = finished(id);
    const first = caller.say(speech);
    const e = await done;
    const lag = caller.sent - (first + onset);
    t.diagnostic(`barge-in ${lag} packets after the onset`);
    assert.equal(e.reason, 'barge_in');
    assert.equal(e.digit, undefined);
    assert.ok(lag >= 3 && lag <= 3 + 10, `stopped ${lag} packets after the onset of talk`);
    const rec = await app.inject({ method: 'GET', url: `/playback/${id}` });
    assert.equal(rec.json().barge_in_speech, true);
    await caller.drained(30);
    // Without it, the same talk does not stop a prompt.
    const plain = await start(false);
    const plainDone = finished(plain);
    caller.say(speech);
    await caller.drained(5);
    const stop = await app.inject({ method: 'DELETE', url: `/playback/${plain}` });
    assert.ok(stop.statusCode < 300, stop.body);
    assert.equal((await plainDone).reason, 'stopped');
  },
);
