import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidStateError } from '../../src/common/errors.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../src/flows/testing/ManualClock.ts';

const yaml = 'name: stuck\nstart: a\nsteps:\n  a: { type: hangup }\n';

test('FlowService.put() into a flows directory it cannot write names the directory and the cause, leaves no temp file, registers nothing', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The target path is taken by a directory: the write fails whatever the user (root ignores modes).
  fs.mkdirSync(path.join(dir, 'stuck.yaml'));
  const service = new FlowService({ engines: new FakeEngines({ clock: new ManualClock() }), dir });
  t.after(() => service.close());
  assert.throws(
    () => service.put('stuck', yaml),
    (err: unknown) => {
      assert.ok(err instanceof InvalidStateError);
      assert.equal(err.code, 'FLOWS_DIR_NOT_WRITABLE');
      assert.ok(err.message.includes(dir), err.message);
      assert.match(err.message, /EISDIR/);
      return true;
    },
  );
  assert.deepEqual(fs.readdirSync(dir), ['stuck.yaml'], 'no temp file left behind');
  assert.throws(() => service.get('stuck'), /no flow named/);
});
