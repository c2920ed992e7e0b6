import assert from 'node:assert/strict';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { test } from 'node:test';
import { buildApp } from '../../src/api/http/app.ts';
import { mapError } from '../../src/api/http/errorHandler.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { fsError } from '../../src/common/safePath.ts';
import { parseWavHeader } from '../../src/media/recording/wav.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { fillDisk, smallTmpfs } from '../helpers/tmpfs.ts';
import { ffprobe } from '../helpers/audio.ts';
import { needs } from '../helpers/peers.ts';

test('A full disk: ENOSPC is 507 INSUFFICIENT_STORAGE, never a 500', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const edquot = Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
  for (const err of [enospc, edquot]) {
    const m = mapError(fsError(err, 'r1.wav'));
    assert.equal(m.status, 507);
    assert.equal(m.body.error.code, 'INSUFFICIENT_STORAGE');
  }
});

test('/recordings on a real full disk: POST answers 507; a recording that fills it ends with cause error and DELETE reports the playable file it left', {
  timeout: 60_000,
  ...needs('ffprobe'),
}, async (t) => {
  const dir = smallTmpfs(t, 512 * 1024);
  if (dir === null) {
    // Mounting needs root; the mapping above and WavFileWriter's simulated ENOSPC cover it then.
    t.diagnostic('tmpfs not mountable here: covered by the ENOSPC mapping and WavFileWriter tests');
    return;
  }
  const server = await startServer({ RECORDINGS_DIR: dir });
  t.after(() => server.close());
  const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
  t.after(() => app.close());
  await app.ready();
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const endpointId = (await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']) })).id;

  const filler = fillDisk(dir);
  for (const format of ['wav', 'mp3', 'opus']) {
    const full = await app.inject({ method: 'POST', url: '/recordings', payload: { endpoint_id: endpointId, format } });
    assert.equal(full.statusCode, 507, full.body);
    assert.equal(full.json().error.code, 'INSUFFICIENT_STORAGE');
  }

  // Room for about 6 s of 8 kHz WAV: the recording (silence while no audio comes) fills it.
  truncateSync(filler, statSync(filler).size - 96 * 1024);
  const res = await app.inject({
    method: 'POST',
    url: '/recordings',
    payload: { endpoint_id: endpointId, format: 'wav', name: 'fills' },
  });
  assert.equal(res.statusCode, 201, res.body);
  const rec = res.json();
  const finished = await nextEvent(server, 'recording.finished', (e) => e.recording_id === rec.id, 30_000);
  assert.equal(finished.cause, 'error');
  assert.match(String(finished.error), /no space left/);

  const del = await app.inject({ method: 'DELETE', url: `/recordings/${rec.id}` });
  assert.equal(del.statusCode, 200, del.body);
  const result = del.json();
  const file = readFileSync(rec.path);
  assert.equal(result.cause, 'error');
  assert.equal(result.bytes, file.length, 'the bytes the file holds');
  assert.ok(file.length > 64 * 1024, `audio was kept: ${file.length} bytes`);
  assert.equal(parseWavHeader(file).declaredDataBytes, file.length - 44, 'header matches the data');
  assert.equal(result.duration_ms, Math.round(((file.length - 44) / 2 / 8000) * 1000));
  const p = await ffprobe(rec.path);
  assert.ok(
    Math.abs(p.duration * 1000 - result.duration_ms) <= 1,
    `ffprobe ${p.duration} s vs ${result.duration_ms} ms`,
  );
});
