import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

test('a greeting followed by a sentence never synthesised before starts as fast as the greeting alone (the sentence is prepared while the greeting plays)', async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '1' });
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  let n = 0;
  const startMs = async (media: string[]): Promise<number> => {
    const playbackId = `p${++n}`;
    const t0 = performance.now();
    await server.request(server.workerOf(ep.id), 'playback.start', { playbackId, endpointId: ep.id, media });
    return performance.now() - t0;
  };
  await startMs(['prompt:goodbye']); // decoded and cached
  const alone = await startMs(['prompt:goodbye']);
  const sentence = `Your reference is ${randomUUID()}. ${'Please leave your message after the tone and press the pound key when you are done. '.repeat(8)}`;
  const finished = nextEvent(server, 'playback.finished', (e) => e.playback_id === 'p3', 60_000);
  const withSentence = await startMs(['prompt:goodbye', `tts:${sentence}`]);
  assert.ok(
    withSentence < Math.max(3 * alone, alone + 150),
    `greeting + new sentence started in ${withSentence.toFixed(0)} ms, the greeting alone in ${alone.toFixed(0)} ms`,
  );
  // The sentence follows the greeting in the same playback.
  assert.equal((await finished).reason, 'done');
  // The shared cache shows in /metrics: the greeting decoded once and reused, the sentence synthesised.
  const body = (await server.metrics()).body;
  assert.match(body, /^msc_prep_cache_hits_total [1-9]/m);
  assert.match(body, /^msc_prep_cache_misses_total [2-9]/m);
});
