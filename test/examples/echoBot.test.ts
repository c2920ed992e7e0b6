import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { sine, toneShare } from '../helpers/audio.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { muLawDecode, muLawEncode } from '../helpers/TwilioBot.ts';

/**
 * The README's walk-through with examples/echo-bot.ts run as its own process: the greeting is
 * played to the caller, then what the caller says comes back (echo), and key 1 ends the stream
 * with the bot's transfer result.
 */
test('examples/echo-bot.ts greets, echoes the caller, and answers key 1 with a transfer result', async (t) => {
  const bot = spawn(process.execPath, ['--import', 'tsx', 'examples/echo-bot.ts'], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => bot.kill());
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    bot.stdout.on('data', (d: Buffer) => {
      out += String(d);
      const m = /echo bot on (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    bot.once('exit', (code) => reject(new Error(`echo bot exited (${code}): ${out}`)));
  });

  const server = await startServer();
  t.after(() => server.close());
  const app: FastifyInstance = await buildApp({ control: server, config: server.config, logger: silentLogger });
  t.after(() => app.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });

  const res = await app.inject({ method: 'POST', url: '/streams', payload: { endpoint_id: ep.id, url } });
  assert.equal(res.statusCode, 201, res.body);
  const id = res.json().id as string;
  // The greeting (prompts/welcome.wav, 3.9 s) is played; its mark comes back; then the echo starts.
  const greetingFrames = Math.floor((3.9 * 8000) / 160);
  await peer.waitFor(greetingFrames, 10_000);
  await new Promise((r) => setTimeout(r, 300));
  // The caller says 600 Hz for 600 ms in real time; the echo comes back.
  const tone = sine(8000, 0.6, 600, 6000);
  const before = peer.received.length;
  const t0 = performance.now();
  for (let k = 0; k * 160 < tone.length; k++) {
    const wait = t0 + k * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const b = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) b[i] = muLawEncode(tone[k * 160 + i]!);
    peer.send(ep.rtp_port, b);
  }
  await new Promise((r) => setTimeout(r, 300));
  const echoed = Buffer.concat(peer.received.slice(before).map((p) => p.payload));
  const pcm = new Int16Array(echoed.length);
  for (let i = 0; i < echoed.length; i++) pcm[i] = muLawDecode(echoed[i]!);
  assert.ok(toneShare(pcm, 8000, 600) > 0.5, 'the caller hears their own 600 Hz back');

  const stopped = nextEvent(server, 'stream.stopped', (e) => e.stream_id === id);
  await peer.sendDtmf(ep.rtp_port, '1');
  const e = await stopped;
  assert.equal(e.reason, 'result');
  assert.deepEqual(e.result, { action: 'transfer', target: 'sip:sales@example.com' });
  bot.kill();
  await once(bot, 'exit');
});
