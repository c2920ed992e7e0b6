import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../../src/common/errors.ts';
import { parseMediaItem } from '../../../src/media/playback/MediaItem.ts';
import { parseToneSpec } from '../../../src/media/playback/ToneGenerator.ts';

test('parseMediaItem() parses every scheme', () => {
  assert.deepEqual(parseMediaItem('prompt:welcome'), { kind: 'prompt', name: 'welcome' });
  assert.deepEqual(parseMediaItem('prompt:en/welcome.wav'), { kind: 'prompt', name: 'en/welcome' });
  assert.deepEqual(parseMediaItem('greetings/hello.wav'), { kind: 'file', path: 'greetings/hello.wav' });
  assert.deepEqual(parseMediaItem('/srv/media/a.mp3'), { kind: 'file', path: '/srv/media/a.mp3' });
  assert.deepEqual(parseMediaItem('file:///srv/media/a.mp3'), { kind: 'file', path: '/srv/media/a.mp3' });
  assert.deepEqual(parseMediaItem('https://example.com/a b.wav'), {
    kind: 'url',
    url: 'https://example.com/a%20b.wav',
  });
  assert.deepEqual(parseMediaItem('silence:500'), { kind: 'silence', durationMs: 500 });
  assert.deepEqual(parseMediaItem('tts:Hello,  world', { voice: 'en-us+f3', rate: 1.2, engine: 'espeak' }), {
    kind: 'tts',
    text: 'Hello,  world',
    voice: 'en-us+f3',
    rate: 1.2,
    engine: 'espeak',
  });
  assert.deepEqual(parseMediaItem('digits:12*#'), {
    kind: 'digits',
    digits: '12*#',
    mode: 'speak',
    digitDurationMs: 100,
  });
  assert.deepEqual(parseMediaItem('digits:123', { digitsMode: 'dtmf', digitDurationMs: 80 }), {
    kind: 'digits',
    digits: '123',
    mode: 'dtmf',
    digitDurationMs: 80,
  });
});

test('parseMediaItem() parses tones: single, dual, named, cadence and duration', () => {
  const t = (s: string) => {
    const it = parseMediaItem(s);
    assert.equal(it.kind, 'tone');
    return it.tone;
  };
  assert.deepEqual(t('tone:440').frequencies, [440]);
  assert.equal(t('tone:440').durationMs, undefined);
  assert.deepEqual(t('tone:440+480').frequencies, [440, 480]);
  assert.equal(t('tone:440:1000').durationMs, 1000);
  const ring = t('tone:ring');
  assert.deepEqual([ring.frequencies, ring.onMs, ring.offMs], [[440, 480], 2000, 4000]);
  const busy = t('tone:busy:3000');
  assert.deepEqual([busy.frequencies, busy.onMs, busy.offMs, busy.durationMs], [[480, 620], 500, 500, 3000]);
  assert.deepEqual(t('tone:dial').frequencies, [350, 440]);
  assert.equal(t('tone:beep').durationMs, 250);
  const cad = t('tone:425/1000/4000:12000');
  assert.deepEqual([cad.frequencies, cad.onMs, cad.offMs, cad.durationMs], [[425], 1000, 4000, 12000]);
});

test('parseMediaItem() rejects bad items with a ValidationError naming the problem', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['prompt:../../etc/passwd', /prompt name/],
    ['prompt:', /prompt name/],
    ['../../etc/passwd', /'\.\.'/],
    ['media/../../etc/passwd', /'\.\.'/],
    ['file:../secret.wav', /'\.\.'/],
    ['ftp://example.com/a.wav', /unknown scheme 'ftp:'/],
    ['https://user:pw@example.com/a.wav', /credentials/],
    ['http://', /valid URL/],
    ['tts:', /empty text/],
    [`tts:${'a'.repeat(5000)}`, /exceeds the 4000 character limit/],
    ['tone:', /tone/],
    ['tone:hoot', /unknown tone 'hoot'/],
    ['tone:5', /outside 20\.\.20000/],
    ['tone:440+480+620', /expected NAME/],
    ['tone:440:0', /duration/],
    ['silence:', /silence:MILLISECONDS/],
    ['silence:-5', /silence:MILLISECONDS/],
    ['silence:0', /1\.\./],
    ['digits:12x', /digits must be/],
    ['digits:', /digits must be/],
  ];
  for (const [item, why] of bad) {
    assert.throws(
      () => parseMediaItem(item),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError, `${item}: ${String(err)}`);
        assert.equal(err.code, item.startsWith('tts:a') ? 'TTS_TEXT_TOO_LONG' : 'INVALID_MEDIA');
        assert.match(err.message, why, item);
        return true;
      },
    );
  }
});

test('parseMediaItem() validates TTS options that may reach a spawned engine', () => {
  assert.throws(() => parseMediaItem('tts:hi', { voice: '--help' }), ValidationError);
  assert.throws(() => parseMediaItem('tts:hi', { voice: 'en; rm -rf /' }), ValidationError);
  assert.throws(() => parseMediaItem('tts:hi', { lang: 'en us' }), ValidationError);
  assert.throws(() => parseMediaItem('tts:hi', { rate: 10 }), ValidationError);
  assert.throws(() => parseMediaItem('tts:hi', { engine: '../x' }), ValidationError);
  assert.throws(() => parseMediaItem('digits:1', { digitsMode: 'morse' as 'dtmf' }), ValidationError);
});

test('parseToneSpec() returns a fresh spec, never the shared named table entry', () => {
  const a = parseToneSpec('busy:100');
  const b = parseToneSpec('busy');
  assert.equal(a.durationMs, 100);
  assert.equal(b.durationMs, undefined);
});
