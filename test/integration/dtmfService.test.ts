import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { DtmfService } from '../../src/control/services/DtmfService.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/**
 * DtmfService as the flows use it, over a real MediaServer: AbortSignal on send, nextDigit(),
 * onDigit(), and the worker digit hook reaching the playback engine (barge-in).
 */

let server: MediaServer;
let dtmf: DtmfService;

before(async () => {
  server = await startServer({ PROMPTS_DIR: 'prompts' });
  dtmf = server.dtmf;
});

after(async () => {
  await server.close();
});

async function endpoint(
  t: TestContext,
  telephoneEvent = true,
): Promise<{ id: string; port: number; peer: RtpPeer; pt: number }> {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu'], { telephoneEvent }) });
  const m = /a=rtpmap:(\d+) telephone-event/.exec(ep.sdp);
  return { id: ep.id, port: ep.rtp_port, peer, pt: m ? Number(m[1]) : -1 };
}

/** One RFC 4733 press from the peer: start, update, end x3 (RFC 4733 2.5.1), same timestamp. */
function pressFromPeer(peer: RtpPeer, port: number, pt: number, digit: number): void {
  const ts = peer.ts;
  const durations = [160, 480, 800, 800, 800];
  durations.forEach((d, i) => {
    peer.ts = ts;
    peer.send(port, Buffer.from([digit, (i >= 2 ? 0x80 : 0) | 10, d >> 8, d & 0xff]), pt, {
      marker: i === 0,
      samples: 0,
    });
  });
  peer.ts = (ts + 1600) >>> 0;
}

test('DtmfService.send() rejects on abort and stops sending; the next send goes out alone', async (t) => {
  const { id, peer, pt } = await endpoint(t);
  const controller = new AbortController();
  const sending = dtmf.send(id, '123456789', { durationMs: 200, signal: controller.signal });
  await peer.waitFor(1);
  controller.abort();
  await assert.rejects(sending, { name: 'AbortError' });
  assert.deepEqual(await dtmf.send(id, '0', { durationMs: 60 }), { digits: '0', method: 'rfc4733' });
  const ends = (): number => peer.received.filter((p) => p.pt === pt && (p.payload[1]! & 0x80) !== 0).length;
  while (ends() < 3) await peer.waitFor(peer.received.length + 1);
  const codes = [...new Set(peer.received.filter((p) => p.pt === pt).map((p) => p.payload[0]))];
  assert.deepEqual(codes, [1, 0], 'digits after the first were dropped');
});

test('DtmfService.nextDigit() resolves with the next press and onDigit() sees every press', async (t) => {
  const { id, port, peer, pt } = await endpoint(t);
  const seen: string[] = [];
  const off = dtmf.onDigit(id, (p) => seen.push(p.digit));
  t.after(off);
  const next = dtmf.nextDigit(id);
  pressFromPeer(peer, port, pt, 11);
  const press = await next;
  assert.equal(press.digit, '#');
  assert.equal(press.source, 'rfc4733');
  assert.equal(press.durationMs, 100);
  const second = dtmf.nextDigit(id);
  pressFromPeer(peer, port, pt, 7);
  assert.equal((await second).digit, '7');
  assert.deepEqual(seen, ['#', '7']);

  const controller = new AbortController();
  const waiting = dtmf.nextDigit(id, controller.signal);
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  await assert.rejects(dtmf.nextDigit('nope'), { name: 'NotFoundError' });
});

test('DtmfService.nextDigit() rejects with ENDPOINT_NOT_FOUND when its endpoint is deleted while it waits', async (t) => {
  const { id } = await endpoint(t);
  const waiting = dtmf.nextDigit(id);
  await server.deleteEndpoint(id);
  await assert.rejects(waiting, { name: 'NotFoundError', code: 'ENDPOINT_NOT_FOUND' });
});

test('a received digit reaches the playback engine through the worker digit hook (barge-in)', async (t) => {
  const { id, port, peer, pt } = await endpoint(t);
  const playback = server.playback;
  const started = nextEvent(server, 'playback.started', (e) => e.endpoint_id === id);
  const playing = playback.play(id, ['prompt:hold-music'], { bargeIn: true });
  await started;
  pressFromPeer(peer, port, pt, 5);
  assert.deepEqual(await playing, { reason: 'barge_in', digit: '5' });
});

test('in-band tones sent while a prompt plays pre-empt it and the prompt resumes afterwards', async (t) => {
  const { id, peer } = await endpoint(t, false);
  const playback = server.playback;
  const started = nextEvent(server, 'playback.started', (e) => e.endpoint_id === id);
  const record = await playback.start({ endpointId: id, media: ['prompt:hold-music'], loop: true });
  await started;
  assert.deepEqual(await dtmf.send(id, '9', { durationMs: 60 }), { digits: '9', method: 'inband' });
  // The prompt was pre-empted, not replaced: still playing, and stopping it reports 'stopped'.
  const state = await playback.get(record.id);
  assert.equal(state.state, 'playing');
  // The prompt goes on after the tone (120 ms of tone and pause = 6 frames): more frames come.
  await peer.waitFor(peer.received.length + 10);
  const seqs = peer.received.map((p) => p.seq);
  for (let i = 1; i < seqs.length; i++)
    assert.equal((seqs[i]! - seqs[i - 1]! + 0x10000) & 0xffff, 1, 'one continuous stream');
  const stopped = await playback.stop(record.id);
  assert.equal(stopped.reason, 'stopped');
});
