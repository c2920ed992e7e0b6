import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { moduleLogger } from '../../src/common/logger.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { duplicateKeys } from '../helpers/jsonKeys.ts';

function capture(): { root: pino.Logger; lines: () => string[] } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { root: pino({ base: { pid: 1 } }, stream), lines: () => out.split('\n').filter((l) => l !== '') };
}

test('duplicateKeys() finds a key repeated in one object, at any depth, and nothing else', () => {
  assert.deepEqual(duplicateKeys('{"module":"flows","module":"flows","msg":"x"}'), ['module']);
  assert.deepEqual(duplicateKeys('{"a":{"b":1,"b":2},"c":[{"b":1},{"b":2}],"s":"\\"a\\":1,\\"a\\":2"}'), ['b']);
  assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":1}}'), []);
});

test("moduleLogger() binds module once; its own logger comes back as is; another module's is refused", () => {
  const { root, lines } = capture();
  const flows = moduleLogger(root, 'flows');
  assert.equal(moduleLogger(flows, 'flows'), flows);
  assert.throws(() => moduleLogger(flows, 'events-ws'), /root logger/);
  flows.info('x');
  assert.deepEqual(duplicateKeys(lines()[0]!), []);
  assert.equal(JSON.parse(lines()[0]!).module, 'flows');
});

test('FlowService writes module once, given the root logger or its own module logger', (t) => {
  for (const given of ['root', 'flows'] as const) {
    const { root, lines } = capture();
    const service = new FlowService({
      engines: {} as never,
      logger: given === 'root' ? root : moduleLogger(root, 'flows'),
    });
    t.after(() => service.close());
    service.put('probe', 'name: probe\nstart: out\nsteps:\n  out:\n    type: hangup\n');
    const loaded = lines().filter((l) => l.includes('flow loaded'));
    assert.equal(loaded.length, 1, lines().join('\n'));
    assert.deepEqual(duplicateKeys(loaded[0]!), [], loaded[0]);
    assert.equal(JSON.parse(loaded[0]!).module, 'flows');
  }
});
