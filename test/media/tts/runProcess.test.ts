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
  await assert.rejects(
    runProcess('sleep', ['10'], { timeoutMs: 150 }),
    (e: unknown) => e instanceof ValidationError && /within 150 ms/.test(e.message),
  );
  assert.ok(performance.now() - started < 5000);
});

test('runProcess() bounds the output size and reports a failing exit status', async () => {
  await assert.rejects(runProcess('head', ['-c', '100000', '/dev/zero'], { maxBytes: 1000 }), /exceeds 1000 bytes/);
  await assert.rejects(runProcess('sh', ['-c', 'echo oops >&2; exit 3']), /exited with 3: oops/);
});

test('runProcess() aborted right after a failed spawn kills nothing (not its own process group)', async (t) => {
  // Run in a child that leads its own process group: before the guard, kill() after ENOENT
  // signalled pid 0 and SIGKILLed the whole group (a test run ended with exit 137).
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const mod = fileURLToPath(new URL('../../../src/media/tts/runProcess.ts', import.meta.url));
  const script = `
    const { runProcess } = await import(${JSON.stringify(mod)});
    for (const when of ['abort', 'timeout']) {
      const ac = new AbortController();
      const p = runProcess('/nonexistent/espeak-ng-missing', [], when === 'abort' ? { signal: ac.signal } : { timeoutMs: 0 });
      if (when === 'abort') ac.abort(new Error('aborted'));
      const r = await p.then(() => 'resolved', (e) => e.code ?? e.message);
      console.log(when + ':' + r);
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
    child.on('close', (c, s) => r([c, s])),
  );
  assert.equal(signal, null, `the child was killed by ${signal}: ${out}`);
  assert.equal(code, 0);
  assert.match(out, /abort:aborted/);
  assert.match(out, /timeout:TTS_(FAILED|ENGINE_UNAVAILABLE)/);
});
