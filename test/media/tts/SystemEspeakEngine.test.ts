import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { UnsupportedError } from '../../../src/common/errors.ts';
import { SystemEspeakEngine } from '../../../src/media/tts/SystemEspeakEngine.ts';
import { rms } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

test(
  'SystemEspeakEngine speaks text full of shell metacharacters instead of running it',
  needs('espeak-ng'),
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tts-shell-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const victim = path.join(dir, 'x');
    await writeFile(victim, 'keep me');
    const engine = new SystemEspeakEngine();
    const text = `"; rm -rf ${victim}; echo "' $(touch ${dir}/pwned1) \`touch ${dir}/pwned2\` | touch ${dir}/pwned3 && touch ${dir}/pwned4`;
    const { pcm, sampleRate } = await engine.synthesize(text);
    assert.equal(sampleRate, 22050);
    assert.ok(pcm.length / sampleRate > 2, 'the whole text was spoken');
    assert.ok(rms(pcm) > 500);
    assert.deepEqual(await readdir(dir), ['x'], 'nothing was deleted or created');
  },
);

test('SystemEspeakEngine speaks a text that looks like an option', needs('espeak-ng'), async () => {
  const { pcm } = await new SystemEspeakEngine().synthesize('--help -w /tmp/owned.wav');
  assert.ok(pcm.length > 10_000);
});

test('SystemEspeakEngine reports a missing program and honours abort', needs('espeak-ng'), async () => {
  await assert.rejects(
    new SystemEspeakEngine({ command: 'espeak-ng-does-not-exist' }).synthesize('hi'),
    UnsupportedError,
  );
  const ac = new AbortController();
  const p = new SystemEspeakEngine().synthesize('a long text '.repeat(200), { signal: ac.signal });
  ac.abort(new Error('hung up'));
  await assert.rejects(p, /hung up/);
});
