import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin', 'media-server.js');

function cli(args: string[], cwd = root): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, FLOWS_DIR: '' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('media-server flows validate accepts the example flows (exit 0)', async () => {
  const r = await cli(['flows', 'validate']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /ok {4}flows\/main-menu\.yaml/);
  // Every example in flows/ (other branches add theirs: counted, not hard-coded).
  const examples = fs.readdirSync(path.join(root, 'flows')).filter((f) => f.endsWith('.yaml')).length;
  assert.match(r.out, new RegExp(`\\b${examples} flow\\(s\\) valid`));
});

test('media-server flows validate prints file:line:column problems and exits 1', async () => {
  const bad = path.join('test', 'flows', 'fixtures', 'bad');
  const r = await cli([
    'flows',
    'validate',
    path.join(bad, 'unknown-step-type.yaml'),
    path.join(bad, 'missing-goto.yaml'),
    'flows/voicemail.yaml',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.out, /test\/flows\/fixtures\/bad\/unknown-step-type\.yaml:5:11: unknown step type 'plya'/);
  assert.match(r.out, /missing-goto\.yaml:7:11: next step 'nowhere'/);
  assert.match(r.out, /ok {4}flows\/voicemail\.yaml/);
  assert.match(r.out, /2 of 3 flow\(s\) invalid/);
});

test('media-server flows graph renders Mermaid and DOT from the compiled machine', async () => {
  const m = await cli(['flows', 'graph', 'main-menu']);
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /^flowchart TD/);
  assert.match(m.out, /s_menu -->\|"key 1"\| s_sales/);
  assert.match(m.out, /s_menu -->\|"after 3 attempts"\| s_operator/);
  const d = await cli(['flows', 'graph', 'flows/survey.yaml', '--format', 'dot']);
  assert.equal(d.code, 0, d.err);
  assert.match(d.out, /^digraph "survey" \{/);
  assert.match(d.out, /"post" -> "post_failed"/);
  const bad = await cli(['flows', 'graph', 'main-menu', '--format', 'png']);
  assert.equal(bad.code, 2);
});

test('media-server flows test runs a script: exit 0 on pass, 1 with a report on failure', async (t) => {
  const ok = await cli(['flows', 'test', 'flows/main-menu.yaml', '--script', 'flows/tests/main-menu.yaml']);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /ok: 5\/5 scenario\(s\) passed/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 's.yaml');
  fs.writeFileSync(script, 'caller:\n  - { at: 100, hangup: true }\nexpect:\n  outcome: { action: transfer }\n');
  const bad = await cli(['flows', 'test', 'flows/main-menu.yaml', '--script', script]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /FAIL {2}main-menu/);
  assert.match(bad.out, /outcome\.action: expected "transfer", got "hangup"/);
});

test('media-server with an unknown command prints usage and exits 2', async () => {
  const r = await cli(['flows', 'frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /usage:/);
});

test('media-server flows validate reports an alias bomb as an invalid flow (exit 1), not a crash', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-bomb-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let bomb = 'name: bomb\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 9; i++)
    bomb += `  l${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  const file = path.join(dir, 'bomb.yaml');
  fs.writeFileSync(file, bomb);
  const r = await cli(['flows', 'validate', file]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /bomb\.yaml:1:1: YAML limits: aliases expand to more than 100/);
});
