import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { loadFlowFile, loadFlowText, flowSchema, crossCheck } from '../../src/flows/loader.ts';
import { compileFlow } from '../../src/flows/compiler.ts';
import { formatProblem } from '../../src/flows/types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures');
const flowsDir = path.join(here, '../../flows');

/** Each bad fixture: where the first problem must point and what it must say. */
const BAD: Record<string, { line: number; column: number; message: RegExp }> = {
  'unknown-step-type.yaml': { line: 5, column: 11, message: /unknown step type 'plya'.*did you mean 'play'/ },
  'missing-goto.yaml': { line: 7, column: 11, message: /next step 'nowhere' is not a step of this flow/ },
  'bad-expression.yaml': { line: 7, column: 13, message: /bad expression 'digits =='/ },
  'missing-field.yaml': { line: 4, column: 3, message: /step 'a' \(play\) is missing required field 'media'/ },
  'unknown-field.yaml': { line: 7, column: 5, message: /unknown field 'barge' in step 'a'.*did you mean 'barge_in'/ },
  'bad-template.yaml': { line: 6, column: 11, message: /bad template.*without a closing/ },
  'forbidden-member.yaml': { line: 7, column: 10, message: /'\.constructor' is not allowed/ },
  'yaml-syntax.yaml': { line: 6, column: 1, message: /YAML syntax/ },
  'min-max.yaml': { line: 6, column: 17, message: /min_digits \(5\) is greater than max_digits \(2\)/ },
  'unknown-function.yaml': { line: 7, column: 10, message: /unknown function 'eval'/ },
  'bad-start.yaml': { line: 2, column: 8, message: /start step 'begin' is not a step/ },
  'wrong-type.yaml': { line: 6, column: 17, message: /'max_digits' must be integer/ },
};

test('loadFlowFile() rejects every bad fixture at file:line:column with a readable message', () => {
  const files = fs.readdirSync(path.join(fixtures, 'bad')).sort();
  assert.deepEqual(files, Object.keys(BAD).sort(), 'every bad fixture has an expectation');
  for (const f of files) {
    const r = loadFlowFile(path.join(fixtures, 'bad', f));
    assert.equal(r.ok, false, f);
    if (r.ok) continue;
    const want = BAD[f]!;
    const hit = r.errors.find((e) => want.message.test(e.message));
    assert.ok(hit, `${f}: expected ${want.message}, got ${r.errors.map(formatProblem).join(' | ')}`);
    assert.equal(hit.line, want.line, `${f} line: ${formatProblem(hit)}`);
    // Expressions point inside the string; the column must be at or after the value start.
    if (want.message.source.startsWith('bad expression') || want.message.source.startsWith('bad template')) {
      assert.ok(hit.column >= want.column, `${f} column: ${formatProblem(hit)}`);
    } else {
      assert.equal(hit.column, want.column, `${f} column: ${formatProblem(hit)}`);
    }
    assert.ok(formatProblem(hit).startsWith(path.join(fixtures, 'bad', f)), 'the message names the file');
  }
});

test('loadFlowFile() loads the good fixture and the compiler builds a machine for every step type', () => {
  const r = loadFlowFile(path.join(fixtures, 'good', 'all-steps.yaml'));
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatProblem).join('\n'));
  const types = new Set<string>(Object.values(r.flow.steps).map((s) => ('sourceType' in s ? s.sourceType : s.type)));
  for (const t of [
    'play',
    'say',
    'collect',
    'menu',
    'record',
    'conference',
    'bridge',
    'http',
    'set',
    'branch',
    'goto',
    'call',
    'return',
    'wait',
    'log',
    'transfer',
    'hangup',
  ]) {
    assert.ok(types.has(t), `fixture covers ${t}`);
  }
  const { machine } = compileFlow(r.flow);
  assert.ok(machine.root.states.hello);
  assert.ok(machine.root.states.__end);
  // menu normalised into collect with choices and no terminator
  const pick = r.flow.steps.pick;
  assert.ok(
    pick?.type === 'collect' && pick.choices?.['2'] === 'rec' && pick.terminator === '' && pick.maxDigits === 1,
  );
});

test('loadFlowText() warns about unreachable steps and a name differing from the file', () => {
  const r = loadFlowText(
    'name: other\nstart: a\nsteps:\n  a: { type: hangup }\n  lost: { type: hangup }\n',
    'flows/mine.yaml',
  );
  assert.ok(r.ok);
  const msgs = r.flow.warnings.map((w) => w.message).join('\n');
  assert.match(msgs, /step 'lost' is never reached/);
  assert.match(msgs, /differs from the file name 'mine'/);
});

test('loadFlowText() reports every problem at once, not only the first', () => {
  const r = loadFlowText(
    'name: x\nstart: a\nsteps:\n  a:\n    type: play\n    media: p\n    next: b\n  c:\n    type: goto\n    target: d\n',
    'x.yaml',
  );
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.errors.length, 2, r.errors.map(formatProblem).join('\n'));
});

test('crossCheck() finds a call to a flow that does not exist', () => {
  const r = loadFlowText('name: x\nstart: a\nsteps:\n  a:\n    type: call\n    flow: pin-chek\n', 'x.yaml');
  assert.ok(r.ok);
  const pin = loadFlowFile(path.join(flowsDir, 'pin-check.yaml'));
  assert.ok(pin.ok);
  const problems = crossCheck([r.flow, pin.flow]);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.message, /calls flow 'pin-chek', which does not exist \(did you mean 'pin-check'\?\)/);
  assert.equal(problems[0]!.line, 4);
});

test('schemas/flow.schema.json accepts every example flow and is a valid 2020-12 schema', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(flowSchema());
  for (const f of fs.readdirSync(flowsDir).filter((x) => x.endsWith('.yaml'))) {
    const data = parseYaml(fs.readFileSync(path.join(flowsDir, f), 'utf8')) as unknown;
    assert.ok(validate(data), `${f}: ${JSON.stringify(validate.errors)}`);
    const r = loadFlowFile(path.join(flowsDir, f));
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatProblem).join('\n'));
    assert.deepEqual(r.flow.warnings, [], `${f} has no warnings`);
  }
});

test('loadFlowText() rejects steps that loop forever without waiting', () => {
  const r = loadFlowText(
    'name: l\nstart: a\nsteps:\n  a: { type: goto, target: b }\n  b: { type: set, values: { x: 1 }, next: a }\n',
    'l.yaml',
  );
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(formatProblem(r.errors[0]!), /^l\.yaml:4:3: steps a → b → a loop forever/);
});

test('loadFlowFile() reports an alias bomb or absurd nesting on disk as problems, without throwing or running out of memory', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-limits-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let bomb = 'name: bomb\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 9; i++)
    bomb += `  l${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  const cases: Array<[string, string, RegExp]> = [
    ['bomb.yaml', bomb, /aliases expand to more than 100/],
    [
      'deep.yaml',
      `name: deep\nstart: a\nsteps:\n  a: { type: hangup }\nvariables:\n  v:\n    ${'- '.repeat(5000)}x\n`,
      /nests deeper than 64/,
    ],
    ['huge.yaml', `name: huge\n${'# '.repeat(200_000)}\n`, /the limit is 262144/],
  ];
  for (const [file, text, why] of cases) {
    fs.writeFileSync(path.join(dir, file), text);
    const r = loadFlowFile(path.join(dir, file));
    assert.equal(r.ok, false, file);
    if (!r.ok) assert.match(r.errors[0]!.message, why, file);
  }
});
