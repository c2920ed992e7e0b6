import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseWavHeader } from '../../src/media/recording/wav.ts';
import { main } from '../../src/cli/main.ts';
import { freeTcpPort, startMain } from '../helpers/mainProcess.ts';

/** `media-server events` and `media-server call` against the real server process (npm start's entry). */

async function serverUrl(t: { after(fn: () => unknown): void }, env: Record<string, string>): Promise<string> {
  const port = await freeTcpPort();
  const main = startMain({ API_PORT: String(port), ...env });
  t.after(() => main.child.kill('SIGKILL'));
  await main.ready;
  return `http://127.0.0.1:${port}`;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) } };
}

test('media-server call FLOW --digits: the test phone hears the prompts, presses 1 and gets the flow outcome; events replays from --since', async (t) => {
  const url = await serverUrl(t, { API_TOKEN: 'cli-secret' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msc-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wav = path.join(dir, 'heard.wav');

  const c = capture();
  const code = await main(
    [
      'call',
      'main-menu',
      '--digits',
      '1',
      '--wait',
      '2500',
      '--out',
      wav,
      '--url',
      url,
      '--token',
      'cli-secret',
      '--max-seconds',
      '60',
    ],
    c.io,
  );
  assert.equal(code, 0, [...c.out, ...c.err].join('\n'));
  assert.ok(
    c.out.some((l) => l === 'flow completed: {"action":"transfer","target":"sip:sales@pbx.example.com"}'),
    c.out.join('\n'),
  );

  // What the phone heard: the welcome/menu prompts, as a WAV with audio in it.
  const bytes = fs.readFileSync(wav);
  const info = parseWavHeader(bytes.subarray(0, 44));
  assert.equal(info.sampleRate, 8000);
  const samples = new Int16Array(bytes.buffer, bytes.byteOffset + 44, (bytes.length - 44) / 2);
  assert.ok(samples.length > 8000 * 2, `at least 2 s heard, got ${samples.length / 8000} s`);
  let energy = 0;
  for (const s of samples) energy += s * s;
  assert.ok(Math.sqrt(energy / samples.length) > 300, 'the prompts are audible, not silence');

  // The events command: the flow's own events, replayed from the start of the buffer.
  const e = capture();
  assert.equal(
    await main(
      [
        'events',
        '--since',
        '0',
        '--types',
        'flow.started,flow.completed',
        '--limit',
        '2',
        '--url',
        url,
        '--token',
        'cli-secret',
      ],
      e.io,
    ),
    0,
    e.err.join('\n'),
  );
  assert.deepEqual(
    e.out.map((l) => (JSON.parse(l) as { type: string }).type),
    ['flow.started', 'flow.completed'],
  );
  const seqs = e.out.map((l) => (JSON.parse(l) as { seq: number }).seq);
  assert.ok(seqs[1]! > seqs[0]!);

  // Without the token the commands say what is missing instead of hanging.
  const denied = capture();
  assert.equal(await main(['events', '--url', url, '--limit', '1'], denied.io), 1);
  assert.match(denied.err.join('\n'), /401 \(set API_TOKEN or --token\)/);
  const refused = capture();
  assert.equal(await main(['call', 'main-menu', '--url', url], refused.io), 1);
  assert.match(refused.err.join('\n'), /401 UNAUTHORIZED/);
});

test('media-server call reports an unreachable server and an unknown flow plainly', async (t) => {
  const c = capture();
  assert.equal(
    await main(
      ['call', 'main-menu', '--url', 'http://127.0.0.1:9', '--out', path.join(os.tmpdir(), 'never.wav')],
      c.io,
    ),
    1,
  );
  assert.match(c.err.join('\n'), /cannot reach http:\/\/127\.0\.0\.1:9 .*npm start/);

  const url = await serverUrl(t, {});
  const u = capture();
  assert.equal(
    await main(['call', 'no-such-flow', '--url', url, '--out', path.join(os.tmpdir(), 'never.wav')], u.io),
    1,
  );
  assert.match(u.err.join('\n'), /404 FLOW_NOT_FOUND/);
});
