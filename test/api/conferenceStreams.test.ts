import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { sine, toneAmplitude } from '../helpers/audio.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { muLawDecode, muLawEncode, TwilioBotServer, type BotCall } from '../helpers/TwilioBot.ts';

const FRAME = 160;
const RATE = 8000;

function ulaw(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length);
  for (let i = 0; i < pcm.length; i++) b[i] = muLawEncode(pcm[i]!);
  return b;
}

function decode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = muLawDecode(bytes[i]!);
  return out;
}

/** Sends `bytes` as 20 ms PCMU packets in real time (drift-corrected). */
async function sendRealTime(peer: RtpPeer, port: number, bytes: Buffer): Promise<void> {
  const t0 = performance.now();
  for (let i = 0, k = 0; i + FRAME <= bytes.length; i += FRAME, k++) {
    const wait = t0 + k * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    peer.send(port, bytes.subarray(i, i + FRAME), 0, { marker: k === 0 });
  }
}

/** What a peer received (PCMU) from `since` (performance.now()) on, decoded. */
function heardBy(peer: RtpPeer, since: number, until = Number.POSITIVE_INFINITY): Int16Array {
  const got = peer.received.filter((r) => r.pt === 0 && r.at >= since && r.at < until);
  return decode(Buffer.concat(got.map((r) => r.payload)));
}

/** What the bot received (its inbound track) between two times, decoded. */
function botHeard(bot: BotCall, since: number, until = Number.POSITIVE_INFINITY): Int16Array {
  const got = bot.received.filter(
    (r) => r.msg?.event === 'media' && r.msg.media?.track === 'inbound' && r.at >= since && r.at < until,
  );
  return decode(Buffer.concat(got.map((r) => Buffer.from(r.msg?.media?.payload ?? '', 'base64'))));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('/streams on a conference: the bot is a virtual participant', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  let bots: TwilioBotServer;
  const peers: RtpPeer[] = [];

  before(async () => {
    server = await startServer();
    app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    await app.ready();
    bots = await TwilioBotServer.open();
  });

  after(async () => {
    await app.close();
    await server.close();
    await bots.close();
    for (const p of peers) p.close();
  });

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: Record<string, unknown>) =>
    app.inject({ method, url, ...(body !== undefined ? { payload: body } : {}) });

  /** A conference with two RTP participants (no entry or exit tones). */
  async function room(id: string): Promise<Array<{ peer: RtpPeer; port: number; endpointId: string }>> {
    const created = await inject('POST', '/conferences', { id, entry_tone: false, exit_tone: false });
    assert.equal(created.statusCode, 201, created.body);
    const members: Array<{ peer: RtpPeer; port: number; endpointId: string }> = [];
    for (let i = 0; i < 2; i++) {
      const peer = await RtpPeer.open();
      peers.push(peer);
      const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']), affinity: id });
      const joined = await inject('POST', `/conferences/${id}/participants`, { endpoint_id: ep.id });
      assert.equal(joined.statusCode, 201, joined.body);
      members.push({ peer, port: ep.rtp_port, endpointId: ep.id });
    }
    return members;
  }

  async function stream(conferenceId: string, extra: Record<string, unknown> = {}) {
    const nth = bots.calls.length;
    const started = nextEvent(server, 'stream.started');
    const res = await inject('POST', '/streams', {
      conference_id: conferenceId,
      url: bots.url,
      metadata: { purpose: 'notes' },
      ...extra,
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    const bot = await bots.nextCall(nth);
    const ev = await started;
    assert.equal(ev.stream_id, body.id);
    assert.equal(ev.conference_id, conferenceId);
    assert.equal(ev.endpoint_id, undefined);
    await bot.waitEvent('start');
    return { id: body.id as string, bot, body };
  }

  test('the bot hears both participants mixed, both hear the bot, and the bot never hears itself', async () => {
    const [a, b] = await room('bot-room');
    const { bot, body } = await stream('bot-room');
    assert.equal(body.conference_id, 'bot-room');
    assert.equal(body.endpoint_id, undefined);
    assert.equal(body.tracks, 'inbound');
    assert.equal(body.bidirectional, true);
    const start = bot.messages('start')[0]!;
    assert.deepEqual(start.start?.customParameters, { conferenceId: 'bot-room', purpose: 'notes' });
    assert.equal(start.start?.callSid, 'bot-room');
    assert.deepEqual(start.start?.tracks, ['inbound']);

    // A says 400 Hz and B 1000 Hz at once for 1 s: the bot hears the mix of both.
    const t0 = performance.now();
    await Promise.all([
      sendRealTime(a!.peer, a!.port, ulaw(sine(RATE, 1, 400, 8000))),
      sendRealTime(b!.peer, b!.port, ulaw(sine(RATE, 1, 1000, 8000))),
    ]);
    await sleep(300);
    // The middle of the talk (jitter buffers filling at its start).
    const mix = botHeard(bot, t0 + 300, t0 + 900);
    assert.ok(mix.length >= RATE * 0.4, `the bot got ${mix.length} samples of the mix`);
    const heard400 = toneAmplitude(mix, 400, RATE);
    const heard1000 = toneAmplitude(mix, 1000, RATE);
    assert.ok(heard400 > 4000, `A's voice in the bot's mix: ${heard400.toFixed(0)} of 8000`);
    assert.ok(heard1000 > 4000, `B's voice in the bot's mix: ${heard1000.toFixed(0)} of 8000`);
    // Once the participants are silent (past the jitter buffers' concealment), so is the mix:
    // the tones were the participants, not something of ours.
    await sleep(400);
    const quiet = botHeard(bot, performance.now() - 300);
    assert.ok(
      quiet.length > 0 && toneAmplitude(quiet, 400, RATE) < heard400 / 20,
      'after A stops, the bot hears no more of A',
    );

    // The bot speaks 1 s of 700 Hz (sent at once, paced by the room's clock): both participants
    // hear it; the bot's own inbound track does not carry it back.
    const t1 = performance.now();
    bot.speak(sine(RATE, 1, 700, 8000));
    await sleep(1400);
    const byA = heardBy(a!.peer, t1 + 300, t1 + 900);
    const byB = heardBy(b!.peer, t1 + 300, t1 + 900);
    const self = botHeard(bot, t1 + 300, t1 + 900);
    const ampA = toneAmplitude(byA, 700, RATE);
    const ampB = toneAmplitude(byB, 700, RATE);
    assert.ok(ampA > 4000, `A hears the bot: ${ampA.toFixed(0)} of 8000`);
    assert.ok(ampB > 4000, `B hears the bot: ${ampB.toFixed(0)} of 8000`);
    assert.ok(self.length >= RATE * 0.4, `the bot kept getting the mix while speaking (${self.length} samples)`);
    const ampSelf = toneAmplitude(self, 700, RATE);
    assert.ok(
      ampSelf < ampA / 50,
      `the bot does not hear itself: ${ampSelf.toFixed(1)} against A's ${ampA.toFixed(0)}`,
    );

    // The stream's counters: it played the bot's second, and received the mix.
    const got = (await inject('GET', `/streams/${body.id}`)).json();
    assert.equal(got.state, 'streaming');
    assert.ok(got.stats.played_ms >= 900, `played ${got.stats.played_ms} ms`);

    // The conference ends: the bot is told stop, the stream stops with reason conference_ended.
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === body.id);
    assert.equal((await inject('DELETE', '/conferences/bot-room')).statusCode, 204);
    const ev = await stopped;
    assert.equal(ev.reason, 'conference_ended');
    assert.equal(ev.conference_id, 'bot-room');
    await bot.waitEvent('stop');
    const after = (await inject('GET', `/streams/${body.id}`)).json();
    assert.equal(after.state, 'stopped');
    assert.equal(after.reason, 'conference_ended');
  });

  test('DELETE /streams/:id takes the bot out of the conference; the room goes on', async () => {
    const [a] = await room('bot-room-2');
    const { id, bot } = await stream('bot-room-2');
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === id);
    const res = await inject('DELETE', `/streams/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().reason, 'stopped');
    assert.equal((await stopped).reason, 'stopped');
    await bot.waitEvent('stop');
    // Once out, what the bot would still send reaches nobody: A hears silence.
    const media = bot.received.filter((r) => r.msg?.event === 'media').length;
    const t0 = performance.now();
    await sleep(600);
    assert.equal(bot.received.filter((r) => r.msg?.event === 'media').length, media, 'no mix after stop');
    const quiet = heardBy(a!.peer, t0, t0 + 600);
    assert.ok(toneAmplitude(quiet, 700, RATE) < 100);
    // The conference itself is untouched: its participants are still there.
    const info = (await inject('GET', '/conferences/bot-room-2')).json();
    assert.equal(info.participants.length, 2);
    // A second bot can join the same room afterwards.
    const again = await stream('bot-room-2', { bidirectional: false });
    assert.equal(again.body.bidirectional, false);
    assert.equal((await inject('DELETE', '/conferences/bot-room-2')).statusCode, 204);
    await again.bot.waitEvent('stop');
  });

  test('REST: an unknown conference is 404; a conference stream has only the inbound track', async () => {
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ conference_id: 'no-such-room', url: bots.url }, 404, /CONFERENCE_NOT_FOUND/],
      [{ conference_id: 'no-such-room', endpoint_id: 'x', url: bots.url }, 400, /exactly one/],
    ];
    await inject('POST', '/conferences', { id: 'bot-room-3' });
    cases.push([{ conference_id: 'bot-room-3', url: bots.url, tracks: 'both' }, 400, /inbound/]);
    for (const [body, status, re] of cases) {
      const res = await inject('POST', '/streams', body);
      assert.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.body}`);
      assert.match(res.body, re);
    }
    await inject('DELETE', '/conferences/bot-room-3');
  });
});
