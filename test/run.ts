/**
 * `npm test`'s runner: node --test over every test/**\/*.test.ts (or the files given), its output
 * passed through untouched, then — only when an external peer is missing — one line naming the
 * missing tools, how many tests they skipped and the apt-get command that installs them. Exits
 * with node's exit code; under CI=true a missing peer fails the run (test/helpers/peers.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ciMode, missingPeers, packagesFor } from './helpers/peers.ts';

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles('test').sort();
const scratch = mkdtempSync(path.join(tmpdir(), 'msc-test-run-'));
const report = path.join(scratch, 'skips');

// Its own process group: a test that signals its group by mistake (kill() on a child whose spawn
// failed signals pid 0 in Node 20) ends the test run, not this summary.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit', detached: true, env: { ...process.env, TEST_PEERS_REPORT: report } },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (child.pid !== undefined) process.kill(-child.pid, sig);
  });
}

child.on('close', (code, signal) => {
  let skipped = 0;
  try {
    skipped = readFileSync(report, 'utf8')
      .split('\n')
      .filter((l) => l !== '').length;
  } catch {
    // no test skipped for a missing peer
  }
  rmSync(scratch, { recursive: true, force: true });
  let exit = code ?? 1;
  if (signal !== null) console.log(`the test run was ended by ${signal}`);
  const missing = missingPeers();
  if (missing.length > 0) {
    const install = `apt-get install ${packagesFor(missing).join(' ')}`;
    if (ciMode()) {
      console.log(`missing test peers: ${missing.join(', ')} — CI=true, so this run fails; install with: ${install}`);
      exit = exit || 1;
    } else {
      console.log(
        `missing test peers: ${missing.join(', ')} — skipped ${skipped} test${skipped === 1 ? '' : 's'}; install with: ${install}`,
      );
    }
  }
  process.exit(exit);
});
