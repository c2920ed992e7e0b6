import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { NotFoundError, UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import type { DecodedAudio } from '../../../src/media/playback/decodeAudio.ts';
import { Player } from '../../../src/media/playback/Player.ts';
import { PromptCache } from '../../../src/media/playback/PromptCache.ts';
import { digitsToText, resolvePlaylist } from '../../../src/media/playback/resolvePlaylist.ts';
import type { TtsEngine, TtsOptions } from '../../../src/media/tts/TtsEngine.ts';
import { TtsService } from '../../../src/media/tts/TtsService.ts';
import { toneShare, tool } from '../../helpers/audio.ts';
import { DestinationPolicy } from '../../../src/common/net/DestinationPolicy.ts';
import { needs } from '../../helpers/peers.ts';

/** The test servers listen on loopback, which the default policy refuses. */
const LOOPBACK_ALLOWED = new DestinationPolicy({ allow: ['127.0.0.1'] });

const PROMPTS = path.resolve('prompts');

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'playlist-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('resolvePlaylist() plays the shipped prompts at each endpoint rate', async () => {
  const cache = new PromptCache();
  for (const rate of [8000, 16000, 48000]) {
    const [welcome, beep] = await resolvePlaylist(['prompt:welcome', 'prompt:beep'], {
      rate,
      promptsDir: PROMPTS,
      cache,
    });
    assert.equal(welcome?.kind, 'pcm');
    assert.equal(beep?.kind, 'pcm');
    if (welcome?.kind !== 'pcm' || beep?.kind !== 'pcm') return;
    assert.ok(
      Math.abs(welcome.pcm.length / rate - 3.9) < 0.02,
      `welcome lasts ${welcome.pcm.length / rate} s at ${rate}`,
    );
    assert.ok(toneShare(beep.pcm, rate, 1000, rate * 0.02, rate * 0.2) > 0.9);
  }
  assert.equal(cache.stats().entries, 6, 'one entry per prompt and rate');
});

test('resolvePlaylist() decodes a prompt once for many concurrent playbacks', async () => {
  const cache = new PromptCache();
  const lists = await Promise.all(
    Array.from({ length: 20 }, () => resolvePlaylist(['prompt:goodbye'], { rate: 8000, promptsDir: PROMPTS, cache })),
  );
  const first = lists[0]?.[0];
  assert.ok(
    lists.every((l) => l[0]?.kind === 'pcm' && first?.kind === 'pcm' && l[0].pcm === first.pcm),
    'all share one buffer',
  );
  const s = cache.stats();
  assert.deepEqual([s.misses, s.coalesced, s.entries], [20, 19, 1]);
});

test('resolvePlaylist() re-reads a prompt file that changed (key has mtime and size)', needs('sox'), async (t) => {
  const dir = await tmp(t);
  const f = path.join(dir, 'msg.wav');
  tool('sox', ['-n', '-r', '8000', '-b', '16', '-c', '1', f, 'synth', '0.5', 'sine', '500']);
  const cache = new PromptCache();
  const ctx = { rate: 8000, promptsDir: dir, cache };
  const a = await resolvePlaylist(['prompt:msg'], ctx);
  const b = await resolvePlaylist(['prompt:msg'], ctx);
  assert.ok(a[0]?.kind === 'pcm' && b[0]?.kind === 'pcm' && a[0].pcm === b[0].pcm);
  tool('sox', ['-n', '-r', '8000', '-b', '16', '-c', '1', f, 'synth', '0.7', 'sine', '700']);
  await utimes(f, new Date(), new Date(Date.now() + 5000));
  const c = await resolvePlaylist(['prompt:msg'], ctx);
  assert.ok(c[0]?.kind === 'pcm');
  if (c[0]?.kind === 'pcm') {
    assert.equal(c[0].pcm.length, 5600);
    assert.ok(toneShare(c[0].pcm, 8000, 700) > 0.9);
  }
});

test('resolvePlaylist() finds MP3 prompts and file items under the media roots only', needs('ffmpeg'), async (t) => {
  const dir = await tmp(t);
  tool('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=600:sample_rate=16000:duration=0.5',
    path.join(dir, 'jingle.mp3'),
  ]);
  await writeFile(path.join(dir, 'text.wav'), 'not audio');
  const ctx = { rate: 16000, promptsDir: dir, mediaRoots: [dir] };
  const [mp3, file] = await resolvePlaylist(['prompt:jingle', 'jingle.mp3'], ctx);
  assert.ok(mp3?.kind === 'pcm' && file?.kind === 'pcm');
  await assert.rejects(resolvePlaylist(['../../etc/passwd'], ctx), ValidationError);
  await assert.rejects(
    resolvePlaylist(['/etc/passwd'], ctx),
    (e: unknown) => e instanceof ValidationError && e.code === 'MEDIA_PATH_FORBIDDEN',
  );
  await assert.rejects(
    resolvePlaylist(['prompt:missing'], ctx),
    (e: unknown) => e instanceof NotFoundError && /missing/.test(e.message),
  );
  await assert.rejects(resolvePlaylist(['text.wav'], ctx), /not a WAV or MP3/);
  await assert.rejects(resolvePlaylist([], ctx), ValidationError);
  await assert.rejects(resolvePlaylist(['tts:hi'], ctx), UnsupportedError);
});

test('resolvePlaylist() turns tones, silence and DTMF digits into generated sources', async () => {
  const sources = await resolvePlaylist(['tone:ring', 'silence:300', 'digits:12#'], {
    rate: 8000,
    itemOptions: { digitsMode: 'dtmf' },
  });
  assert.deepEqual(
    sources.map((s) => s.kind),
    ['tone', 'silence', 'dtmf'],
  );
  const dtmf = await resolvePlaylist([{ kind: 'digits', digits: '99', mode: 'dtmf', digitDurationMs: 80 }], {
    rate: 8000,
  });
  assert.deepEqual(dtmf, [{ kind: 'dtmf', digits: '99', durationMs: 80 }]);
});

class FakeEngine implements TtsEngine {
  readonly name = 'fake';
  readonly calls: { text: string; opts: TtsOptions }[] = [];
  async synthesize(text: string, opts: TtsOptions = {}): Promise<DecodedAudio> {
    this.calls.push({ text, opts });
    return { pcm: new Int16Array(22050).fill(1000), sampleRate: 22050 };
  }
}

test('resolvePlaylist() speaks tts: and digits: items at the endpoint rate through the TTS service', async () => {
  const engine = new FakeEngine();
  const tts = new TtsService({ engines: [engine], cache: new PromptCache() });
  const sources = await resolvePlaylist(
    [{ kind: 'tts', text: 'Your balance is', voice: 'en-gb', rate: 1.5 }, 'digits:42*', 'tts:Your balance is'],
    { rate: 16000, tts },
  );
  assert.ok(sources.every((s) => s.kind === 'pcm' && s.pcm.length === 16000));
  assert.deepEqual(
    engine.calls.map((c) => c.text),
    ['Your balance is', '4 2 star', 'Your balance is'],
  );
  assert.deepEqual(engine.calls[0]?.opts, { voice: 'en-gb', rate: 1.5 });
  assert.equal(digitsToText('1#A'), '1 pound A');
});

interface Served {
  url: string;
  hits: Map<string, number>;
}

async function server(t: { after: (fn: () => Promise<void>) => void }): Promise<Served> {
  const dir = await tmp(t);
  const wavPath = path.join(dir, 'a.wav');
  tool('sox', ['-n', '-r', '16000', '-b', '16', '-c', '1', wavPath, 'synth', '0.4', 'sine', '900']);
  const wav = await readFile(wavPath);
  const hits = new Map<string, number>();
  const srv: Server = createServer((req, res) => {
    const p = req.url ?? '/';
    hits.set(p, (hits.get(p) ?? 0) + 1);
    if (p.startsWith('/a.wav')) {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
      res.end(wav);
    } else if (p === '/slow') {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.write(wav.subarray(0, 100)); // then never finishes
    } else if (p === '/big') {
      res.writeHead(200, { 'content-length': 50_000_000 });
      res.write(wav);
    } else if (p === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      for (let i = 0; i < 20; i++) res.write(Buffer.alloc(16_384));
      res.end();
    } else {
      res.writeHead(404);
      res.end('nope');
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, hits };
}

test('resolvePlaylist() fetches http items, caches them and refetches after the TTL', needs('sox'), async (t) => {
  const { url, hits } = await server(t);
  let now = 0;
  const cache = new PromptCache({ now: () => now });
  const ctx = { rate: 8000, cache, http: { ttlMs: 60_000, policy: LOOPBACK_ALLOWED } };
  const [a] = await resolvePlaylist([`${url}/a.wav`], ctx);
  assert.ok(a?.kind === 'pcm' && a.pcm.length === 3200 && toneShare(a.pcm, 8000, 900, 100, 3100) > 0.9);
  await resolvePlaylist([`${url}/a.wav`], ctx);
  assert.equal(hits.get('/a.wav'), 1, 'second playback served from cache');
  now = 60_001;
  await resolvePlaylist([`${url}/a.wav`], ctx);
  assert.equal(hits.get('/a.wav'), 2, 'refetched after the TTL');
});

test(
  'resolvePlaylist() reports HTTP 404, timeouts and oversize bodies as clean ValidationErrors',
  needs('sox'),
  async (t) => {
    const { url } = await server(t);
    const ctx = {
      rate: 8000,
      cache: new PromptCache(),
      http: { timeoutMs: 300, maxBytes: 100_000, policy: LOOPBACK_ALLOWED },
    };
    const code = (c: string, re: RegExp) => (e: unknown) =>
      e instanceof ValidationError && e.code === c && re.test(e.message);
    await assert.rejects(resolvePlaylist([`${url}/missing.wav`], ctx), code('MEDIA_FETCH_FAILED', /HTTP 404/));
    await assert.rejects(resolvePlaylist([`${url}/slow`], ctx), code('MEDIA_FETCH_TIMEOUT', /300 ms/));
    await assert.rejects(resolvePlaylist([`${url}/big`], ctx), code('MEDIA_TOO_LARGE', /50000000 bytes/));
    await assert.rejects(resolvePlaylist([`${url}/big-chunked`], ctx), code('MEDIA_TOO_LARGE', /100000 byte limit/));
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      resolvePlaylist([`http://127.0.0.1:${port}/x.wav`], ctx),
      code('MEDIA_FETCH_FAILED', /: destination refused or unreachable$/),
    );
    assert.equal(ctx.cache.size, 0, 'failures are not cached');
  },
);

test('resolvePlaylist() output drives a Player to the end of the playlist', async () => {
  const sources = await resolvePlaylist(['prompt:beep', 'silence:100', 'tone:440:200'], {
    rate: 8000,
    promptsDir: PROMPTS,
    cache: new PromptCache(),
  });
  const p = new Player(sources, { sampleRate: 8000 });
  const out = new Int16Array(160);
  let frames = 0;
  while (p.fill(out) > 0) frames++;
  assert.equal(frames, Math.ceil((2000 + 800 + 1600) / 160));
  assert.equal(p.reason, 'done');
});
