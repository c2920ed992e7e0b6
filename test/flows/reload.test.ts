import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowService } from '../../src/flows/FlowService.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../src/flows/testing/ManualClock.ts';

const flow = (prompt: string) => `name: live\nstart: a\nsteps:\n  a: { type: play, media: prompt:${prompt} }\n`;

test('FlowService.watch() reloads a changed file: new sessions get it, running ones keep theirs, invalid files replace nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-reload-'));
  fs.writeFileSync(path.join(dir, 'live.yaml'), flow('v1'));
  const clock = new ManualClock();
  const engines = new FakeEngines({ clock, durationOf: () => 60_000 });
  const waiters: Array<{ type: string; resolve: (p: Record<string, unknown>) => void }> = [];
  const service = new FlowService({
    engines,
    dir,
    emit: (type, p) => {
      const i = waiters.findIndex((w) => w.type === type);
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(p);
    },
  });
  t.after(() => {
    service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const next = (type: string) => new Promise<Record<string, unknown>>((resolve) => waiters.push({ type, resolve }));
  service.loadDir();
  service.watch();
  const old = service.start('e1', 'live');
  const v1 = service.get('live').version;

  const loaded = next('flow.loaded');
  fs.writeFileSync(path.join(dir, 'live.yaml'), flow('v2'));
  assert.equal((await loaded).version, v1 + 1);
  const fresh = service.start('e2', 'live');
  await clock.settle();
  assert.deepEqual(
    engines.calls.map((c) => [c.endpointId, c.args[0]]),
    [
      ['e1', 'prompt:v1'],
      ['e2', 'prompt:v2'],
    ],
  );
  assert.equal(old.version, v1);
  assert.equal(fresh.version, v1 + 1);

  const invalid = next('flow.invalid');
  fs.writeFileSync(path.join(dir, 'live.yaml'), 'name: live\nstart: a\nsteps:\n  a: { type: plya }\n');
  const report = await invalid;
  assert.match(String((report.errors as string[])[0]), /live\.yaml:4:\d+: unknown step type 'plya'/);
  assert.equal(service.get('live').version, v1 + 1, 'the valid version stays');
  assert.equal(service.problems().length, 1);

  const removed = next('flow.removed');
  fs.rmSync(path.join(dir, 'live.yaml'));
  assert.equal((await removed).name, 'live');
  assert.throws(() => service.get('live'), { code: 'FLOW_NOT_FOUND' });
  assert.equal(old.status, 'running', 'a session survives its flow being removed');
});
