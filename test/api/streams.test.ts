import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { readWav, rms, sine, toneShare } from '../helpers/audio.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { muLawDecode, muLawEncode, TwilioBotServer, type BotCall } from '../helpers/TwilioBot.ts';

const FRAME = 160;

/** µ-law bytes of 8 kHz PCM (the test's own encoder, not ours). */
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

/** Sends `bytes` as 20 ms PCMU packets in real time (drift-corrected); resolves after the last. */
async function sendRealTime(peer: RtpPeer, port: number, bytes: Buffer): Promise<number[]> {
  const sentAt: number[] = [];
  const t0 = performance.now();
  for (let i = 0, k = 0; i + FRAME <= bytes.length; i += FRAME, k++) {
    const wait = t0 + k * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sentAt.push(performance.now());
    peer.send(port, bytes.subarray(i, i + FRAME), 0, { marker: k === 0 });
  }
  return sentAt;
}

/** A µ-law packet that is not digital silence (0xff / 0x7f), i.e. bot speech. */
const speech = (p: Buffer): boolean => rms(decode(p)) > 300;

describe('/streams: a Twilio Media Streams bot through us', () => {
  let server: MediaServer;
  let app: FastifyInstance;
  let bots: TwilioBotServer;

  before(async () => {
    server = await startServer();
    app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    await app.ready();
    bots = await TwilioBotServer.open({
      // A bot behind a token: only our server, with the right one, may connect.
      verify: (req) => req.headers.authorization === 'Bearer s3cret' && req.headers['x-tenant'] === 'acme',
    });
  });

  after(async () => {
    await app.close();
    await server.close();
    await bots.close();
  });

  async function call(t: { after(fn: () => unknown): void }): Promise<{ peer: RtpPeer; id: string; port: number }> {
    const peer = await RtpPeer.open();
    t.after(() => peer.close());
    const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
    t.after(() => server.deleteEndpoint(ep.id).catch(() => undefined));
    return { peer, id: ep.id, port: ep.rtp_port };
  }

  const post = (body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/streams', payload: body });

  async function stream(
    endpointId: string,
    extra: Record<string, unknown> = {},
  ): Promise<{ id: string; bot: BotCall; body: Record<string, unknown> }> {
    const nth = bots.calls.length;
    const started = nextEvent(server, 'stream.started');
    const res = await post({
      endpoint_id: endpointId,
      url: bots.url,
      token: 's3cret',
      headers: { 'X-Tenant': 'acme' },
      metadata: { caller: '+15551234567', lang: 'en' },
      ...extra,
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    const bot = await bots.nextCall(nth);
    assert.equal((await started).stream_id, body.id);
    await bot.waitEvent('start');
    return { id: body.id, bot, body };
  }

  test('the bot hears the caller bit-exactly, speaks back paced at 20 ms with one continuous RTP stream, and its mark comes back after playout', async (t) => {
    const { peer, id: endpointId, port } = await call(t);
    const { id, bot, body } = await stream(endpointId);
    assert.equal(body.state, 'connecting');
    assert.equal(body.tracks, 'inbound');
    assert.equal(body.bidirectional, true);

    // connected, then start, exactly as Twilio documents them
    const connected = bot.received[0]?.msg;
    assert.deepEqual(connected, { event: 'connected', protocol: 'Call', version: '1.0.0' });
    const start = bot.messages('start')[0]!;
    assert.equal(start.sequenceNumber, '1');
    assert.equal(start.streamSid, id);
    assert.equal(start.start?.streamSid, id);
    assert.equal(start.start?.callSid, endpointId);
    assert.match(start.start?.accountSid ?? '', /^AC/);
    assert.deepEqual(start.start?.tracks, ['inbound']);
    assert.deepEqual(start.start?.customParameters, { caller: '+15551234567', lang: 'en' });
    assert.deepEqual(start.start?.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });

    // The caller says a prompt's worth of speech (1 s of it), in real time.
    const prompt = readWav('prompts/welcome.wav').samples.subarray(0, 8000);
    const said = ulaw(prompt);
    await sendRealTime(peer, port, said);
    await bot.waitFor(() => bot.heardBytes().length >= said.length, 3000);
    const heard = bot.heardBytes();
    // G.711 decode + encode is the identity (but for µ-law's two zeros): the bot hears exactly
    // what the caller sent.
    assert.deepEqual(decode(heard.subarray(0, said.length)), decode(said), 'the bot hears exactly the caller audio');
    const media = bot.messages('media');
    media.forEach((m, i) => {
      assert.equal(m.media?.track, 'inbound');
      assert.equal(m.media?.chunk, String(i + 1));
      assert.equal(Buffer.from(m.media?.payload ?? '', 'base64').length, FRAME);
      assert.equal(m.streamSid, id);
    });
    const seqs = bot.received
      .filter((r) => r.msg?.sequenceNumber !== undefined)
      .map((r) => Number(r.msg?.sequenceNumber));
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      'sequenceNumber counts every message from 1',
    );
    const stamps = media.map((m) => Number(m.media?.timestamp));
    const span = stamps.at(-1)! - stamps[0]!;
    assert.ok(Math.abs(span - (media.length - 1) * 20) < 200, `timestamps follow the caller's 20 ms: ${span} ms`);

    // The bot answers with 1 s of a 440 Hz tone, all at once (faster than real time), then a mark.
    const before = peer.received.length;
    const tone = sine(8000, 1, 440, 8000);
    const sentBytes = bot.speak(tone);
    bot.mark('answer-done');
    const sentAt = performance.now();
    const ack = await bot.waitEvent('mark', 4000);
    const got = peer.received.slice(before).filter((p) => speech(p.payload));
    const playedBytes = Buffer.concat(got.map((p) => p.payload));
    assert.equal(ack.msg?.mark?.name, 'answer-done');
    assert.equal(playedBytes.length, sentBytes.length, 'every sample of the bot reached the caller');
    assert.deepEqual(
      decode(playedBytes),
      decode(sentBytes),
      'the caller hears the bot exactly (8 kHz both sides: no resampling)',
    );
    // Paced onto the media clock, not burst: 50 frames over about a second.
    const arrival = got.at(-1)!.at - got[0]!.at;
    assert.ok(arrival >= 900, `bot audio paced in real time (${arrival.toFixed(0)} ms for 1 s)`);
    // The mark is acknowledged once its audio was played, not when it was queued.
    assert.ok(ack.at >= got.at(-1)!.at - 5, 'mark acknowledged after the last frame went out');
    assert.ok(ack.at - sentAt >= 900, 'mark not acknowledged before the audio before it had time to play');
    // One RTP stream: same SSRC, consecutive sequence numbers, timestamps 160 apart.
    const all = peer.received.slice(before);
    for (let i = 1; i < all.length; i++) {
      assert.equal(all[i]!.ssrc, all[0]!.ssrc);
      assert.equal((all[i]!.seq - all[i - 1]!.seq) & 0xffff, 1);
      assert.equal((all[i]!.ts - all[i - 1]!.ts) >>> 0, 160);
    }
    const g = await app.inject({ method: 'GET', url: `/streams/${id}` });
    const stats = g.json().stats;
    assert.equal(g.json().state, 'streaming');
    assert.equal(stats.marks_received, 1);
    assert.equal(stats.marks_acknowledged, 1);
    assert.ok(stats.frames_sent >= 50);
    assert.ok(stats.played_ms >= 990 && stats.played_ms <= 1010, `played_ms ${stats.played_ms}`);
  });

  test('clear drops the queued audio at once (barge-in) and acknowledges the pending mark', async (t) => {
    const { peer, id: endpointId } = await call(t);
    const { bot } = await stream(endpointId);
    bot.speak(sine(8000, 5, 440, 8000));
    bot.mark('long-prompt');
    await peer.waitFor(peer.received.length + 15, 3000);
    const clearAt = performance.now();
    bot.clear();
    const ack = await bot.waitEvent('mark', 1000);
    assert.equal(ack.msg?.mark?.name, 'long-prompt');
    assert.ok(ack.at - clearAt < 100, `mark acknowledged promptly on clear (${(ack.at - clearAt).toFixed(1)} ms)`);
    // Frames already handed to the socket may still arrive; nothing after one more tick.
    await new Promise((r) => setTimeout(r, 300));
    const late = peer.received.filter((p) => p.at > clearAt + 60 && speech(p.payload));
    assert.equal(late.length, 0, 'no bot audio reaches the caller 60 ms after clear');
    assert.ok(peer.received.filter((p) => p.at > clearAt + 60).length >= 10, 'the stream goes on (silence)');
  });

  test('a key press reaches the bot as dtmf; hang-up sends stop and closes (stream.stopped hangup)', async (t) => {
    const { peer, id: endpointId, port } = await call(t);
    const { id, bot } = await stream(endpointId);
    await peer.sendDtmf(port, '5');
    const dtmf = await bot.waitEvent('dtmf', 3000);
    assert.deepEqual(dtmf.msg?.dtmf, { track: 'inbound_track', digit: '5' });
    assert.equal(dtmf.msg?.streamSid, id);

    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === id);
    await server.deleteEndpoint(endpointId);
    const stop = await bot.waitEvent('stop', 3000);
    assert.deepEqual(stop.msg?.stop, { accountSid: bot.messages('start')[0]?.start?.accountSid, callSid: endpointId });
    assert.equal((await stopped).reason, 'hangup');
    await bot.waitFor(() => bot.closed, 3000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(bot.closed, 'the socket is closed after stop');
    const g = await app.inject({ method: 'GET', url: `/streams/${id}` });
    assert.equal(g.json().state, 'stopped');
    assert.equal(g.json().reason, 'hangup');
  });

  test('the bot ends the stream with a result message; DELETE stops another one (reason stopped)', async (t) => {
    const { id: endpointId } = await call(t);
    const { id, bot } = await stream(endpointId);
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === id);
    bot.send({ event: 'result', streamSid: id, result: { action: 'transfer', target: 'sip:sales@example.com' } });
    const e = await stopped;
    assert.equal(e.reason, 'result');
    assert.deepEqual(e.result, { action: 'transfer', target: 'sip:sales@example.com' });

    const second = await stream(endpointId);
    const del = await app.inject({ method: 'DELETE', url: `/streams/${second.id}` });
    assert.equal(del.statusCode, 200);
    assert.equal(del.json().reason, 'stopped');
    await second.bot.waitEvent('stop', 2000);
    const list = await app.inject({ method: 'GET', url: '/streams' });
    assert.ok(list.json().some((s: { id: string }) => s.id === second.id));
  });

  test('a bot without the token is refused: stream.error CONNECT_FAILED, then stopped with reason error', async (t) => {
    const { id: endpointId } = await call(t);
    const error = nextEvent(server, 'stream.error');
    const res = await post({ endpoint_id: endpointId, url: bots.url, token: 'wrong', reconnect: { max_attempts: 0 } });
    assert.equal(res.statusCode, 201);
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === res.json().id);
    const e = await error;
    assert.equal(e.code, 'CONNECT_FAILED');
    assert.match(String(e.message), /401/);
    assert.equal(e.will_retry, false);
    assert.equal((await stopped).reason, 'error');
  });

  test('connection refused is retried per the reconnect policy, then gives up', async (t) => {
    const { id: endpointId } = await call(t);
    // a port nobody listens on
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const errors: Array<{ stream_id?: unknown }> = [];
    const off = server.events.subscribe((e) => {
      if (e.type === 'stream.error') errors.push(e as { stream_id?: unknown });
    });
    t.after(off);
    const res = await post({
      endpoint_id: endpointId,
      url: `ws://127.0.0.1:${port}/`,
      reconnect: { max_attempts: 2, delay_ms: 20 },
    });
    const stopped = await nextEvent(server, 'stream.stopped', (e) => e.stream_id === res.json().id);
    assert.equal(stopped.reason, 'error');
    assert.equal(
      errors.filter((e) => e.stream_id === res.json().id).length,
      3,
      'the first attempt and two retries each failed',
    );
    const g = await app.inject({ method: 'GET', url: `/streams/${res.json().id}` });
    assert.equal(g.json().error.code, 'CONNECT_FAILED');
  });

  test('bot audio beyond max_queue_ms is dropped and counted as overruns', async (t) => {
    const { id: endpointId } = await call(t);
    const { id, bot } = await stream(endpointId, { max_queue_ms: 200 });
    bot.speak(sine(8000, 2, 440, 8000));
    bot.mark('sync');
    await bot.waitEvent('mark', 3000);
    const g = (await app.inject({ method: 'GET', url: `/streams/${id}` })).json();
    assert.ok(g.stats.queue_overruns >= 40, `overruns ${g.stats.queue_overruns}`);
    // 2 s sent, at most about 200 ms (plus what played while it arrived) kept
    assert.ok(g.stats.overrun_samples >= 16000 - 1600 - 800, `dropped ${g.stats.overrun_samples}`);
    assert.ok(g.stats.played_ms <= 400, `played ${g.stats.played_ms}`);
  });

  test('binary mode: a JSON start, then raw L16 both ways at 16 kHz, resampled to and from the 8 kHz call', async (t) => {
    const { peer, id: endpointId, port } = await call(t);
    const nth = bots.calls.length;
    const res = await post({
      endpoint_id: endpointId,
      url: bots.url,
      token: 's3cret',
      headers: { 'X-Tenant': 'acme' },
      mode: 'binary',
      sample_rate: 16000,
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().encoding, 'l16');
    const bot = await bots.nextCall(nth);
    const meta = await bot.waitEvent('start');
    assert.equal(meta.msg?.sampleRate, 16000);
    assert.equal(meta.msg?.encoding, 'l16');
    // The caller says 500 Hz for 600 ms.
    await sendRealTime(peer, port, ulaw(sine(8000, 0.6, 500, 8000)));
    await bot.waitFor(() => bot.received.filter((r) => r.binary !== null).length >= 25, 3000);
    const frames = bot.received.filter((r) => r.binary !== null).map((r) => r.binary as Buffer);
    assert.ok(
      frames.every((f) => f.length === 640),
      '20 ms of 16 kHz L16 per frame',
    );
    const pcm16 = new Int16Array(Buffer.concat(frames).buffer.slice(0));
    const all = Buffer.concat(frames);
    const heard = new Int16Array(all.length / 2);
    for (let i = 0; i < heard.length; i++) heard[i] = all.readInt16LE(i * 2);
    assert.ok(pcm16.length > 0);
    assert.ok(toneShare(heard, 16000, 500, 1600) > 0.9, 'the bot hears the caller tone at 16 kHz');
    // The bot answers 700 Hz at 16 kHz as binary frames.
    const before = peer.received.length;
    const tone = sine(16000, 0.6, 700, 8000);
    for (let i = 0; i < tone.length; i += 320) {
      const b = Buffer.alloc(640);
      for (let k = 0; k < 320; k++) b.writeInt16LE(tone[i + k]!, k * 2);
      bot.ws.send(b);
    }
    await peer.waitFor(before + 35, 3000);
    const out = decode(Buffer.concat(peer.received.slice(before).map((p) => p.payload)));
    assert.ok(toneShare(out, 8000, 700, 800) > 0.8, 'the caller hears the bot tone at 8 kHz');
  });

  test('REST: bad requests answer 400/404 naming what was wrong', async (t) => {
    const { id: endpointId } = await call(t);
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ endpoint_id: endpointId, url: 'http://127.0.0.1/' }, 400, /url/],
      [{ endpoint_id: endpointId }, 400, /url/],
      [{ endpoint_id: endpointId, url: bots.url, sample_rate: 16000 }, 400, /pcmu/],
      [{ endpoint_id: endpointId, url: bots.url, tracks: 'sideways' }, 400, /tracks/],
      [{ endpoint_id: endpointId, url: bots.url, mode: 'binary', tracks: 'both', encoding: 'l16' }, 400, /one track/],
      [{ url: bots.url }, 400, /exactly one/],
      [{ endpoint_id: endpointId, bridge_id: 'b', url: bots.url }, 400, /exactly one/],
      [{ conference_id: 'nope', url: bots.url }, 404, /CONFERENCE_NOT_FOUND/],
      [{ endpoint_id: 'nope', url: bots.url }, 404, /ENDPOINT_NOT_FOUND/],
      [{ bridge_id: 'nope', url: bots.url }, 404, /BRIDGE_NOT_FOUND/],
      [{ endpoint_id: endpointId, url: bots.url, headers: { 'bad header': 'x' } }, 400, /headers/],
    ];
    for (const [body, status, re] of cases) {
      const res = await post(body);
      assert.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.body}`);
      assert.match(res.body, re);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/streams/nope' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/streams/nope' })).statusCode, 404);
  });

  test('a bot that stops reading costs only its own frames: drops counted, another call keeps its 20 ms pacing', async (t) => {
    const good = await call(t);
    const goodStream = await stream(good.id);
    // Loopback TCP buffers take about 4 MB before our send buffer grows, so the other caller
    // talks 20 times faster than real time (50 packets every 20 ms, 4000 in all, about 5.6 MB of
    // 24 kHz L16 messages) to get past them quickly. The same load with a bot that reads is the
    // baseline: what the stuck bot adds to the good call's gaps is the difference.
    const phase = async (stuck: boolean) => {
      const other = await call(t);
      const s = await stream(other.id, { encoding: 'l16', sample_rate: 24000 });
      if (stuck) s.bot.ws.pause();
      const frame = ulaw(sine(8000, 0.02, 300, 8000));
      const burst = (async () => {
        for (let k = 0; k < 80; k++) {
          for (let i = 0; i < 50; i++) other.peer.send(other.port, frame);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const before = good.peer.received.length;
      goodStream.bot.speak(sine(8000, 3, 440, 8000));
      goodStream.bot.mark(`end-${stuck}`);
      await goodStream.bot.waitEvent('mark', 8000, (m) => m.mark?.name === `end-${stuck}`);
      await burst;
      const got = good.peer.received.slice(before).filter((p) => speech(p.payload));
      assert.equal(got.length, 150);
      const gaps = got
        .slice(1)
        .map((p, i) => p.at - got[i]!.at)
        .sort((x, y) => x - y);
      const stats = (await app.inject({ method: 'GET', url: `/streams/${s.id}` })).json().stats;
      if (stuck) s.bot.ws.resume();
      return { span: got.at(-1)!.at - got[0]!.at, p99: gaps[Math.floor(gaps.length * 0.99)]!, stats };
    };
    const base = await phase(false);
    const stuck = await phase(true);
    assert.equal(base.stats.frames_dropped, 0, `a reading bot loses nothing: ${JSON.stringify(base.stats)}`);
    // Once TCP's buffers and our 64 KiB bound are full, frames are dropped, not queued.
    assert.ok(stuck.stats.frames_dropped > 0, `stuck bot: ${JSON.stringify(stuck.stats)}`);
    // (a loaded box may lose some of the UDP burst before it reaches the stream)
    assert.ok(stuck.stats.frames_sent + stuck.stats.frames_dropped >= 3000, JSON.stringify(stuck.stats));
    assert.ok(
      Math.abs(stuck.span - 149 * 20) < 150,
      `the good call is paced: ${stuck.span.toFixed(0)} ms for 149 frames`,
    );
    // The two phases run at different moments of a shared box: the bound leaves room for its
    // load moving between them, not for a worker blocked on the stuck socket (hundreds of ms).
    assert.ok(
      stuck.p99 < base.p99 * 2 + 30,
      `p99 gap of the good call with a stuck bot ${stuck.p99.toFixed(1)} ms, with a reading one ${base.p99.toFixed(1)} ms`,
    );
  });

  test('flows: flows/voice-bot.yaml hands the call to the bot, its keys reach it, and its transfer result lands in the flow', async (t) => {
    const { peer, id: endpointId, port } = await call(t);
    const flows = new FlowService({ engines: MediaFlowEngines.forServer(server), dir: 'flows' });
    t.after(() => flows.close());
    flows.loadDir();
    const nth = bots.calls.length;
    // the example flow's bot is unauthenticated: a second bot server without the token check
    const open = await TwilioBotServer.open();
    t.after(() => open.close());
    const session = flows.start(endpointId, 'voice-bot', { bot_url: open.url, caller: '+15550001111' });
    const bot = await open.nextCall(0, 15000);
    assert.equal(bots.calls.length, nth);
    const start = await bot.waitEvent('start', 5000);
    assert.deepEqual(start.msg?.start?.customParameters, { caller: '+15550001111', lang: 'en' });
    // The caller presses 2 while the bot listens: the bot gets it; the flow does not take it.
    await peer.sendDtmf(port, '2');
    await bot.waitEvent('dtmf', 3000, (m) => m.dtmf?.digit === '2');
    bot.send({
      event: 'result',
      streamSid: bot.streamSid,
      result: { action: 'transfer', target: 'sip:billing@example.com' },
    });
    const out = await session.done;
    assert.deepEqual(out.outcome, { action: 'transfer', target: 'sip:billing@example.com' });
  });

  test('flows: the caller hanging up during a stream step stops the stream (the bot gets stop)', async (t) => {
    const { id: endpointId } = await call(t);
    const flows = new FlowService({ engines: MediaFlowEngines.forServer(server), dir: 'flows' });
    t.after(() => flows.close());
    flows.loadDir();
    const open = await TwilioBotServer.open();
    t.after(() => open.close());
    const session = flows.start(endpointId, 'voice-bot', { bot_url: open.url });
    const bot = await open.nextCall(0, 15000);
    await bot.waitEvent('start', 5000);
    const stopped = nextEvent(server, 'stream.stopped');
    await server.deleteEndpoint(endpointId);
    await bot.waitEvent('stop', 3000);
    assert.equal((await stopped).reason, 'hangup');
    const out = await session.done;
    assert.equal(out.outcome?.action, 'hangup');
  });

  test('a bridge is streamed listen-only: leg A is the inbound track, leg B the outbound one, and the relay goes on', async (t) => {
    const a = await call(t);
    const b = await call(t);
    const bridge = await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
    const nth = bots.calls.length;
    const res = await post({ bridge_id: bridge.id, url: bots.url, token: 's3cret', headers: { 'X-Tenant': 'acme' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().bridge_id, bridge.id);
    assert.equal(res.json().tracks, 'both');
    assert.equal(res.json().bidirectional, false);
    const bot = await bots.nextCall(nth);
    const start = await bot.waitEvent('start');
    assert.deepEqual(start.msg?.start?.tracks, ['inbound', 'outbound']);
    const beforeB = b.peer.received.length;
    await Promise.all([
      sendRealTime(a.peer, a.port, ulaw(sine(8000, 0.6, 500, 8000))),
      sendRealTime(b.peer, b.port, ulaw(sine(8000, 0.6, 700, 8000))),
    ]);
    await bot.waitFor(() => bot.heard('inbound').length >= 4000 && bot.heard('outbound').length >= 4000, 3000);
    assert.ok(toneShare(bot.heard('inbound'), 8000, 500, 800) > 0.9, 'inbound is what leg A says');
    assert.ok(toneShare(bot.heard('outbound'), 8000, 700, 800) > 0.9, 'outbound is what leg B says');
    assert.ok(b.peer.received.length - beforeB >= 25, 'leg B still hears leg A through the bridge');
    const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === res.json().id);
    await server.deleteBridge(bridge.id);
    const e = await stopped;
    assert.equal(e.reason, 'hangup');
    assert.equal(e.bridge_id, bridge.id);
    await bot.waitEvent('stop', 2000);
  });
});
