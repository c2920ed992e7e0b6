import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { NotFoundError, ValidationError } from '../../../src/common/errors.ts';
import type { DecodedAudio } from '../../../src/media/playback/decodeAudio.ts';
import { PromptCache } from '../../../src/media/playback/PromptCache.ts';
import { HttpTtsEngine } from '../../../src/media/tts/HttpTtsEngine.ts';
import { Text2WaveEngine } from '../../../src/media/tts/Text2WaveEngine.ts';
import type { TtsEngine, TtsOptions } from '../../../src/media/tts/TtsEngine.ts';
import { TtsService } from '../../../src/media/tts/TtsService.ts';
import { rms } from '../../helpers/audio.ts';
import { DestinationPolicy } from '../../../src/common/net/DestinationPolicy.ts';
import { needs } from '../../helpers/peers.ts';

class CountingEngine implements TtsEngine {
  calls = 0;
  closed = false;
  constructor(
    readonly name: string,
    readonly rate = 16000,
  ) {}
  async synthesize(text: string, _opts?: TtsOptions): Promise<DecodedAudio> {
    this.calls++;
    return { pcm: new Int16Array(text.length * 100).fill(500), sampleRate: this.rate };
  }
  close(): void {
    this.closed = true;
  }
}

test('TtsService caches on engine + voice + lang + rate + text, and bypassCache skips it', async () => {
  const a = new CountingEngine('a');
  const tts = new TtsService({ engines: [a], cache: new PromptCache() });
  await tts.synthesize('hello');
  await tts.synthesize('hello');
  assert.equal(a.calls, 1);
  await tts.synthesize('hello', { voice: 'en-gb' });
  await tts.synthesize('hello', { lang: 'fr' });
  await tts.synthesize('hello', { rate: 1.5 });
  await tts.synthesize('Hello');
  assert.equal(a.calls, 5, 'each option makes a different entry');
  await tts.synthesize('hello', { bypassCache: true });
  assert.equal(a.calls, 6);
  assert.equal(tts.syntheses, 6);
});

test('TtsService converts to the requested rate and caches per rate', async () => {
  const e = new CountingEngine('e', 16000);
  const tts = new TtsService({ engines: [e], cache: new PromptCache() });
  const at8k = await tts.synthesize('abcd', { sampleRate: 8000 });
  assert.equal(at8k.sampleRate, 8000);
  assert.equal(at8k.pcm.length, 200);
  const native = await tts.synthesize('abcd');
  assert.equal(native.sampleRate, 16000);
  assert.equal(e.calls, 2);
});

test('TtsService picks the default or the named engine and rejects unknown ones', async () => {
  const a = new CountingEngine('a');
  const b = new CountingEngine('b');
  const tts = new TtsService({ engines: [a, b], defaultEngine: 'b' });
  await tts.synthesize('x');
  await tts.synthesize('x', { engine: 'a' });
  assert.deepEqual([a.calls, b.calls], [1, 1]);
  assert.deepEqual(tts.engineNames(), ['a', 'b']);
  await assert.rejects(tts.synthesize('x', { engine: 'c' }), NotFoundError);
  assert.throws(() => tts.setDefault('c'), NotFoundError);
  await assert.rejects(new TtsService().synthesize('x'), NotFoundError);
  tts.close();
  assert.ok(a.closed && b.closed);
});

test('TtsService enforces text limits', async () => {
  const tts = new TtsService({ engines: [new CountingEngine('a')], maxTextLength: 10 });
  await assert.rejects(tts.synthesize('   '), ValidationError);
  await assert.rejects(tts.synthesize('12345678901'), /exceeds the 10 character limit/);
  await assert.rejects(tts.synthesize('a\0b'), ValidationError);
  await assert.rejects(tts.synthesize('hi', { voice: '-w/etc/x' }), ValidationError);
  await assert.rejects(tts.synthesize('hi', { rate: 0 }), ValidationError);
});

test('HttpTtsEngine POSTs {text, voice, lang} as JSON and decodes the WAV answer', needs('sox'), async (t) => {
  const wav = execFileSync('sox', [
    '-n',
    '-r',
    '16000',
    '-b',
    '16',
    '-c',
    '1',
    '-t',
    'wav',
    '-',
    'synth',
    '0.5',
    'sine',
    '300',
  ]);
  let received: unknown;
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received = {
        method: req.method,
        type: req.headers['content-type'],
        auth: req.headers.authorization,
        body: JSON.parse(body),
      };
      if (req.url === '/fail') {
        res.writeHead(500);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.end(wav);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const policy = new DestinationPolicy({ allow: ['127.0.0.1'] });
  const engine = new HttpTtsEngine({ url: `${base}/tts`, headers: { authorization: 'Bearer k' }, policy });
  const { pcm, sampleRate } = await engine.synthesize('Hello "there"; rm -rf /', { voice: 'v1', lang: 'en-US' });
  assert.equal(sampleRate, 16000);
  assert.ok(Math.abs(pcm.length - 8000) < 2);
  assert.ok(rms(pcm) > 1000);
  assert.deepEqual(received, {
    method: 'POST',
    type: 'application/json',
    auth: 'Bearer k',
    body: { text: 'Hello "there"; rm -rf /', voice: 'v1', lang: 'en-US' },
  });
  await assert.rejects(new HttpTtsEngine({ url: `${base}/fail`, policy }).synthesize('x'), /HTTP 500/);
  // without the exception, the default policy refuses the loopback engine
  await assert.rejects(new HttpTtsEngine({ url: `${base}/tts` }).synthesize('x'), /destination refused or unreachable/);
});

test('Text2WaveEngine speaks through festival text2wave', needs('text2wave'), async () => {
  const { pcm } = await new Text2WaveEngine().synthesize('hello world; rm -rf /tmp/x');
  assert.ok(pcm.length > 8000);
  assert.ok(rms(pcm) > 300);
});

test('Text2WaveEngine refuses a voice that is not a plain identifier (it becomes Scheme code)', async () => {
  await assert.rejects(new Text2WaveEngine().synthesize('hi', { voice: 'x) (system "id"' }), ValidationError);
});

test('One TTS text limit: tts: items, TtsService and the REST schema all allow exactly MAX_TTS_TEXT', async () => {
  const { MAX_TTS_TEXT, parseMediaItem } = await import('../../../src/media/playback/MediaItem.ts');
  const { readFileSync } = await import('node:fs');
  const tts = new TtsService({ engines: [new CountingEngine('a')] });
  const longest = 'a'.repeat(MAX_TTS_TEXT);
  assert.equal(parseMediaItem(`tts:${longest}`).kind, 'tts');
  await tts.synthesize(longest); // an item the parser accepts is not refused by the service
  await assert.rejects(
    tts.synthesize(`${longest}a`),
    (e: unknown) => e instanceof ValidationError && e.code === 'TTS_TEXT_TOO_LONG',
  );
  assert.throws(
    () => parseMediaItem(`tts:${longest}a`),
    (e: unknown) => e instanceof ValidationError && e.code === 'TTS_TEXT_TOO_LONG',
  );
  // A higher per-service setting cannot lift the one limit.
  assert.equal(new TtsService({ maxTextLength: 10 * MAX_TTS_TEXT }).maxTextLength, MAX_TTS_TEXT);
  const schema = JSON.parse(
    readFileSync(new URL('../../../schemas/api/CreatePlaybackRequest.json', import.meta.url), 'utf8'),
  ) as { properties: { media: { items: { maxLength: number } } } };
  assert.equal(schema.properties.media.items.maxLength, 'tts:'.length + MAX_TTS_TEXT);
});
