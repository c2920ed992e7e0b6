import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hasPeer, missingPeers, needs, PEERS, type Peer } from './peers.ts';
import { tempDir } from './audio.ts';

/** Sets environment variables for the rest of the test. */
function withEnv(t: TestContext, env: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  t.after(() => set(saved));
}

/** A PATH directory holding `node` and an executable stub for each of `bins`. */
function binDir(dir: string, bins: readonly string[]): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const b of bins) {
    writeFileSync(path.join(bin, b), '#!/bin/sh\nexit 0\n');
    chmodSync(path.join(bin, b), 0o755);
  }
  return bin;
}

/** A TEST_PEERS_ROOT holding every file peer (empty files). */
function fullRoot(dir: string): string {
  const root = path.join(dir, 'root');
  for (const spec of Object.values(PEERS)) {
    for (const f of 'files' in spec ? spec.files : []) {
      const file = path.join(
        root,
        f.replace('{multiarch}', { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as 'x64'] ?? ''),
      );
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, '');
    }
  }
  return root;
}

const allBins = [...new Set(Object.values(PEERS).flatMap((s) => ('bins' in s ? [...s.bins] : [])))];

test('needs() is {} when every peer is on PATH and under TEST_PEERS_ROOT', async (t) => {
  const dir = await tempDir(t);
  withEnv(t, {
    PATH: binDir(dir, allBins),
    TEST_PEERS_ROOT: fullRoot(dir),
    CI: undefined,
    TEST_PEERS_REPORT: undefined,
  });
  assert.deepEqual(needs('ffmpeg', 'sox', 'baresip', 'asterisk-sounds', 'gst-spandsp'), {});
  assert.deepEqual(missingPeers(), []);
});

test('needs() skips naming the missing tools and their packages once each, and reports the skip', async (t) => {
  const dir = await tempDir(t);
  const report = path.join(dir, 'skips');
  withEnv(t, {
    PATH: binDir(dir, ['sox', 'baresip']),
    TEST_PEERS_ROOT: path.join(dir, 'empty'),
    CI: undefined,
    TEST_PEERS_REPORT: report,
  });
  assert.deepEqual(needs('ffmpeg', 'ffprobe', 'sox'), { skip: 'needs ffmpeg, ffprobe (apt-get install ffmpeg)' });
  // a program without its files (baresip's modules) is missing too
  assert.deepEqual(needs('baresip', 'sipp-captures'), {
    skip: 'needs baresip, sipp-captures (apt-get install baresip-core sip-tester)',
  });
  assert.equal(hasPeer('sox'), true);
  assert.equal(readFileSync(report, 'utf8'), 'ffmpeg ffprobe\nbaresip sipp-captures\n');
  const missing = missingPeers();
  assert.ok(missing.includes('asterisk-sounds') && !missing.includes('sox'), missing.join());
});

test('under CI=true needs() never skips: the test runs and fails on the missing tool', async (t) => {
  const dir = await tempDir(t);
  withEnv(t, {
    PATH: binDir(dir, []),
    TEST_PEERS_ROOT: path.join(dir, 'empty'),
    CI: 'true',
    TEST_PEERS_REPORT: undefined,
  });
  assert.deepEqual(needs('ffmpeg'), {});
});

test('every peer names a Debian package that .ci/run installs', () => {
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  for (const [peer, spec] of Object.entries(PEERS) as Array<[Peer, { pkg: string }]>) {
    assert.match(
      ci,
      new RegExp(`(\\s|\\()${spec.pkg.replace(/[.+]/g, '\\$&')}(\\s|\\))`),
      `${peer}: ${spec.pkg} is not in .ci/run`,
    );
  }
});

/** Runs test/run.ts over the fixture with `env`; resolves its exit code and output. */
function runner(env: Record<string, string | undefined>): Promise<{ code: number | null; out: string }> {
  const fixture = path.join('test', 'fixtures', 'peers', 'usesFfmpeg.ts');
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT; // the nested node --test reports to its own stdout, not to ours
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/run.ts', fixture], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

test("test/run.ts ends green with one summary line after node's own when a peer is missing, and fails under CI=true", async (t) => {
  const dir = await tempDir(t);
  const env = {
    PATH: binDir(
      dir,
      allBins.filter((b) => b !== 'ffmpeg'),
    ),
    TEST_PEERS_ROOT: fullRoot(dir),
    CI: undefined,
  };
  const local = await runner(env);
  assert.equal(local.code, 0, local.out);
  const lines = local.out.trimEnd().split('\n');
  assert.match(lines.at(-2)!, /^# duration_ms|^ℹ duration_ms/, "node's own summary comes first");
  assert.match(local.out, /# skipped 1|ℹ skipped 1/);
  assert.equal(lines.at(-1), 'missing test peers: ffmpeg — skipped 1 test; install with: apt-get install ffmpeg');

  const ci = await runner({ ...env, CI: 'true' });
  assert.equal(ci.code, 1, ci.out);
  assert.match(ci.out, /ran although ffmpeg is missing/);
  assert.equal(
    ci.out.trimEnd().split('\n').at(-1),
    'missing test peers: ffmpeg — CI=true, so this run fails; install with: apt-get install ffmpeg',
  );

  const all = await runner({ ...env, PATH: binDir(path.join(dir, 'all'), allBins) });
  assert.equal(all.code, 1, 'with ffmpeg "installed" the fixture test runs (and throws)');
  assert.doesNotMatch(all.out, /missing test peers/);
});
