import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { ValidationError } from '../../../src/common/errors.ts';
import { AudioPrepPool } from '../../../src/media/prep/AudioPrepPool.ts';
import { PortAudioPrep } from '../../../src/media/prep/PortAudioPrep.ts';

const prompts = path.resolve(import.meta.dirname, '../../../prompts');

test("AudioPrepPool serves every worker's port from one cache: one synthesis for a text asked twice at once, PCM in shared memory, typed errors across the port", async (t) => {
  const pool = new AudioPrepPool({ threads: 1, cacheBytes: 8 * 1024 * 1024 });
  t.after(() => pool.close());
  const clients = [0, 1].map(() => {
    const { port1, port2 } = new MessageChannel();
    pool.serve(port1);
    return new PortAudioPrep(port2);
  });
  t.after(() => {
    for (const c of clients) c.close();
  });
  const req = { kind: 'tts', text: 'Two workers ask for this sentence at the same time.', sampleRate: 8000 } as const;
  const [a, b] = await Promise.all(clients.map((c) => c.prepare(req)));
  assert.ok(a!.pcm.length > 8000, `speech of ${a!.pcm.length} samples`);
  assert.ok(a!.pcm.buffer instanceof SharedArrayBuffer, 'PCM handed over in a SharedArrayBuffer');
  // Same bytes, not a copy: what one sees the other sees.
  const before = b!.pcm[100];
  a!.pcm[100] = 12345;
  assert.equal(b!.pcm[100], 12345);
  a!.pcm[100] = before!;
  const s = pool.stats();
  assert.equal(s.misses, 2);
  assert.equal(s.coalesced, 1, "the second request joined the first one's job");
  assert.equal(s.entries, 1);
  assert.ok(s.bytes >= a!.pcm.byteLength);
  // A decoded prompt file, then the same file again from the cache.
  const file = { kind: 'file', path: path.join(prompts, 'beep.wav'), sampleRate: 16000, label: 'prompt:beep' } as const;
  const beep = await clients[0]!.prepare(file);
  assert.equal(beep.sampleRate, 16000);
  const again = await clients[1]!.prepare(file);
  assert.equal(pool.stats().hits, 1);
  beep.pcm[0] = 4242; // the cached entry is the same memory in both workers
  assert.equal(again.pcm[0], 4242);
  // Errors keep their class and code across the port.
  await assert.rejects(
    clients[0]!.prepare({ kind: 'tts', text: 'x'.repeat(5000), sampleRate: 8000 }),
    (e: unknown) => e instanceof ValidationError && e.code === 'TTS_TEXT_TOO_LONG',
  );
  await assert.rejects(
    clients[1]!.prepare({ kind: 'file', path: path.join(prompts, 'README.md'), sampleRate: 8000, label: 'README.md' }),
    (e: unknown) => e instanceof Error && /not a WAV or MP3/.test(e.message),
  );
  // A caller that gives up stops waiting at once.
  const ac = new AbortController();
  const waiting = clients[0]!.prepare(
    { kind: 'tts', text: 'Nobody will wait for this one.', sampleRate: 8000 },
    ac.signal,
  );
  ac.abort(new Error('hung up'));
  await assert.rejects(waiting, /hung up/);
});
