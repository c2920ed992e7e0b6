import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatReport, runScript } from '../../src/flows/testing/runScript.ts';

const flowsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../flows');
const scripts = fs
  .readdirSync(path.join(flowsDir, 'tests'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('every example flow has a test script', () => {
  const examples = ['main-menu', 'voicemail', 'conference-pin', 'survey', 'appointment-reminder'];
  for (const e of examples) assert.ok(scripts.includes(`${e}.yaml`), `flows/tests/${e}.yaml`);
});

for (const script of scripts) {
  const name = script.replace(/\.yaml$/, '');
  test(`flows test ${name}: every scenario of flows/tests/${script} passes`, async () => {
    const report = await runScript(path.join(flowsDir, `${name}.yaml`), path.join(flowsDir, 'tests', script));
    assert.ok(report.scenarios.length > 0);
    assert.ok(report.passed, formatReport(report));
  });
}

test('runScript() fails, with a readable report, when the flow does not do what the script expects', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-script-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const script = path.join(tmp, 'wrong.yaml');
  fs.writeFileSync(
    script,
    [
      'caller:',
      '  - { on_step: menu, after_ms: 2000, dtmf: "1" }',
      'expect:',
      '  steps: [welcome, menu, support]',
      '  outcome: { action: transfer, target: "sip:nobody@pbx" }',
    ].join('\n'),
  );
  const report = await runScript(path.join(flowsDir, 'main-menu.yaml'), script);
  assert.equal(report.passed, false);
  const text = formatReport(report);
  assert.match(text, /FAIL {2}main-menu/);
  assert.match(text, /steps: expected welcome → menu → support/);
  assert.match(text, /outcome\.target: expected "sip:nobody@pbx", got "sip:sales@pbx\.example\.com"/);
  assert.match(text, /caller presses 1/);
});

test('runScript() reports a flow left waiting for the caller', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-script-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.writeFileSync(path.join(tmp, 'room.yaml'), 'name: room\nstart: a\nsteps:\n  a: { type: conference, room: r }\n');
  fs.writeFileSync(path.join(tmp, 'script.yaml'), 'expect: { steps: [a] }\n');
  const report = await runScript(path.join(tmp, 'room.yaml'), path.join(tmp, 'script.yaml'));
  assert.equal(report.passed, false);
  assert.match(formatReport(report), /still running in step 'a'/);
});
