import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/** Largest interval between consecutive timestamps, ms. */
function maxGap(times: readonly number[]): number {
  let max = 0;
  for (let i = 1; i < times.length; i++) max = Math.max(max, times[i]! - times[i - 1]!);
  return max;
}

test("a relayed call on the only media worker keeps flowing (no gap over 200 ms beyond the sender's own) while 1,000 characters are synthesised for the first time", async (t) => {
  const server = await startServer({ MEDIA_WORKERS: '1' });
  t.after(() => server.close());
  const caller = await RtpPeer.open();
  const callee = await RtpPeer.open();
  const listener = await RtpPeer.open();
  t.after(() => {
    caller.close();
    callee.close();
    listener.close();
  });
  const a = await server.createEndpoint({ remote_sdp: caller.offer(['pcmu']) });
  const b = await server.createEndpoint({ remote_sdp: callee.offer(['pcmu']) });
  const c = await server.createEndpoint({ remote_sdp: listener.offer(['pcmu']) });
  await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });

  const arrivals: number[] = [];
  callee.rtp.on('message', () => arrivals.push(performance.now()));
  const sends: number[] = [];
  const payload = new Uint8Array(160).fill(0xff);
  const timer = setInterval(() => {
    sends.push(performance.now());
    caller.send(a.rtp_port, payload);
  }, 20);
  t.after(() => clearInterval(timer));
  await callee.waitFor(25);

  // A text nobody synthesised before (the nonce makes the cache cold for it), 1,000 characters.
  const sentence = `Your reference is ${randomUUID()}. `;
  const text = `${sentence}${'Please listen carefully, as our menu options have changed recently. '.repeat(20)}`.slice(
    0,
    1000,
  );
  assert.equal(text.length, 1000);
  const windowStart = performance.now();
  const started = nextEvent(server, 'playback.started', (e) => e.endpoint_id === c.id, 60_000);
  await server.request(server.workerOf(c.id), 'playback.start', {
    playbackId: 'long-tts',
    endpointId: c.id,
    media: [`tts:${text}`],
  });
  await started;
  // The speech plays on the same worker clock too: keep relaying through the first second of it.
  const until = arrivals.length + 50;
  await callee.waitFor(until, 10_000);
  clearInterval(timer);
  const windowEnd = performance.now();

  const received = arrivals.filter((x) => x >= windowStart && x <= windowEnd);
  const sent = sends.filter((x) => x >= windowStart && x <= windowEnd);
  const gap = maxGap(received);
  const sendGap = maxGap(sent);
  assert.ok(received.length > 50, `only ${received.length} packets relayed while synthesising`);
  // Compared with the sender's own schedule in this run: a loaded test process delays both alike.
  assert.ok(
    gap - sendGap < 200,
    `largest gap at the receiving peer ${gap.toFixed(0)} ms (sender's largest ${sendGap.toFixed(0)} ms) over ${(windowEnd - windowStart).toFixed(0)} ms`,
  );
});
