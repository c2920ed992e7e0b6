import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

test('the first MP3 and the first Ogg Opus recording of a fresh server start about as fast as a later, warm one', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'encoder-warm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ MEDIA_WORKERS: '1', RECORDINGS_DIR: dir });
  t.after(() => server.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) });
  let n = 0;
  const startMs = async (format: 'mp3' | 'opus'): Promise<number> => {
    const recordingId = `r${++n}`;
    const t0 = performance.now();
    await server.request(server.workerOf(ep.id), 'recording.start', {
      recordingId,
      endpointId: ep.id,
      format,
      path: path.join(dir, `${recordingId}.${format}`),
    });
    const ms = performance.now() - t0;
    await server.request(server.workerOf(ep.id), 'recording.stop', { recordingId });
    return ms;
  };
  for (const format of ['mp3', 'opus'] as const) {
    const first = await startMs(format);
    const warm = Math.min(await startMs(format), await startMs(format));
    // Cold, the first took 0.9-2.1 s (MP3) and 3-4.5 s (Opus) against tens of ms once warm.
    assert.ok(
      first < Math.max(3 * warm, warm + 150),
      `${format}: first recording started in ${first.toFixed(0)} ms, a warm one in ${warm.toFixed(0)} ms`,
    );
  }
});
