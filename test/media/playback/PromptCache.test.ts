import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecodedAudio } from '../../../src/media/playback/decodeAudio.ts';
import { PromptCache } from '../../../src/media/playback/PromptCache.ts';

const audio = (samples: number): DecodedAudio => ({ pcm: new Int16Array(samples), sampleRate: 8000 });

test('PromptCache.getOrLoad() loads on a miss and serves hits without loading again', async () => {
  const cache = new PromptCache({ maxBytes: 10_000 });
  let loads = 0;
  const load = async () => {
    loads++;
    return audio(100);
  };
  const a = await cache.getOrLoad('k', load);
  const b = await cache.getOrLoad('k', load);
  assert.equal(a, b);
  assert.equal(loads, 1);
  const s = cache.stats();
  assert.deepEqual([s.hits, s.misses, s.entries, s.bytes], [1, 1, 1, 200]);
});

test('PromptCache evicts least recently used entries to stay within its byte bound', async () => {
  const cache = new PromptCache({ maxBytes: 1000 }); // room for two 400-byte entries
  await cache.getOrLoad('a', async () => audio(200));
  await cache.getOrLoad('b', async () => audio(200));
  await cache.getOrLoad('a', async () => assert.fail('a is cached')); // a is now most recent
  await cache.getOrLoad('c', async () => audio(200)); // evicts b
  assert.equal(cache.has('a'), true);
  assert.equal(cache.has('b'), false);
  assert.equal(cache.has('c'), true);
  assert.equal(cache.bytes, 800);
  assert.equal(cache.stats().evictions, 1);
  // Bigger than the whole cache: returned but not kept, nothing evicted for it.
  const huge = await cache.getOrLoad('huge', async () => audio(1000));
  assert.equal(huge.pcm.length, 1000);
  assert.equal(cache.has('huge'), false);
  assert.equal(cache.size, 2);
  assert.ok(cache.bytes <= cache.maxBytes);
});

test('PromptCache shares one in-flight load between concurrent callers (single flight)', async () => {
  const cache = new PromptCache();
  let loads = 0;
  let release!: (a: DecodedAudio) => void;
  const load = () => {
    loads++;
    return new Promise<DecodedAudio>((r) => (release = r));
  };
  const waits = Array.from({ length: 50 }, () => cache.getOrLoad('prompt', load));
  assert.equal(cache.stats().inflight, 1);
  release(audio(10));
  const results = await Promise.all(waits);
  assert.equal(loads, 1);
  assert.ok(results.every((r) => r === results[0]));
  assert.equal(cache.stats().coalesced, 49);
  assert.equal(cache.stats().inflight, 0);
});

test('PromptCache does not cache failures: every waiter gets the error, the next call retries', async () => {
  const cache = new PromptCache();
  let calls = 0;
  const failing = async () => {
    calls++;
    throw new Error('decode failed');
  };
  const both = await Promise.allSettled([cache.getOrLoad('x', failing), cache.getOrLoad('x', failing)]);
  assert.deepEqual(
    both.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.equal(calls, 1);
  await cache.getOrLoad('x', async () => audio(1));
  assert.equal(cache.stats().loadErrors, 1);
  assert.equal(cache.has('x'), true);
});

test('PromptCache expires entries after their TTL', async () => {
  let now = 0;
  const cache = new PromptCache({ now: () => now });
  let loads = 0;
  const load = async () => audio(++loads);
  await cache.getOrLoad('u', load, { ttlMs: 1000 });
  now = 999;
  assert.equal((await cache.getOrLoad('u', load, { ttlMs: 1000 })).pcm.length, 1);
  now = 1000;
  assert.equal((await cache.getOrLoad('u', load, { ttlMs: 1000 })).pcm.length, 2);
  assert.equal(cache.stats().expirations, 1);
  assert.equal(cache.bytes, 4);
});

test('PromptCache lets one caller abandon its wait without cancelling the shared load', async () => {
  const cache = new PromptCache();
  let release!: (a: DecodedAudio) => void;
  const load = () => new Promise<DecodedAudio>((r) => (release = r));
  const ac = new AbortController();
  const impatient = cache.getOrLoad('k', load, { signal: ac.signal });
  const patient = cache.getOrLoad('k', load);
  ac.abort(new Error('hung up'));
  await assert.rejects(impatient, /hung up/);
  release(audio(5));
  assert.equal((await patient).pcm.length, 5);
  assert.equal(cache.has('k'), true);
  await assert.rejects(cache.getOrLoad('k', load, { signal: ac.signal }), /hung up/);
});
