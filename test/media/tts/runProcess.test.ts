import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../../src/common/errors.ts';
import { runProcess } from '../../../src/media/tts/runProcess.ts';

test('runProcess() passes stdin through untouched and returns stdout', async () => {
  const text = '"; rm -rf / ; $(reboot) `id` | cat\n';
  const out = await runProcess('cat', [], { stdin: text });
  assert.equal(Buffer.from(out).toString('utf8'), text);
});

test('runProcess() kills a program that runs past its timeout', async () => {
  const started = performance.now();
  await assert.rejects(runProcess('sleep', ['10'], { timeoutMs: 150 }), (e: unknown) => e instanceof ValidationError && /within 150 ms/.test(e.message));
  assert.ok(performance.now() - started < 5000);
});

test('runProcess() bounds the output size and reports a failing exit status', async () => {
  await assert.rejects(runProcess('head', ['-c', '100000', '/dev/zero'], { maxBytes: 1000 }), /exceeds 1000 bytes/);
  await assert.rejects(runProcess('sh', ['-c', 'echo oops >&2; exit 3']), /exited with 3: oops/);
});
