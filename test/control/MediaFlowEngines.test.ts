import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaFlowEngines, type FlowMediaHost } from '../../src/control/MediaFlowEngines.ts';

/** A host with only the playback service a test needs (the others are never called). */
function withPlayback(playback: FlowMediaHost['playback']): FlowMediaHost {
  return { playback } as FlowMediaHost;
}

/** The flows' engines over stand-in services: what each step's options become. */

test("MediaFlowEngines.say() passes the say step's voice to the playback service", async () => {
  const calls: Array<{ items: readonly string[]; opts: Record<string, unknown> }> = [];
  const engines = new MediaFlowEngines(
    withPlayback({
      play: async (_endpointId, items, opts) => {
        calls.push({ items, opts: { ...opts } });
        return { reason: 'done' };
      },
    }),
  );
  const r = await engines.say('ep-1', 'hello', {
    bargeIn: false,
    signal: new AbortController().signal,
    voice: 'en-us+f3',
  });
  assert.equal(r.reason, 'finished');
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]?.items, ['tts:hello']);
  assert.equal(calls[0]?.opts.voice, 'en-us+f3');
});

test('MediaFlowEngines.play() sends no voice when the step has none', async () => {
  let seen: Record<string, unknown> = {};
  const engines = new MediaFlowEngines(
    withPlayback({
      play: async (_e, _i, opts) => {
        seen = { ...opts };
        return { reason: 'barge_in', digit: '5' };
      },
    }),
  );
  const r = await engines.play('ep-1', ['prompt:welcome'], { bargeIn: true, signal: new AbortController().signal });
  assert.deepEqual(r, { reason: 'dtmf', digit: '5' });
  assert.equal('voice' in seen, false);
  assert.equal(seen.bargeIn, true);
});

test('MediaFlowEngines.play() rejects when the playback ended in error, so the step takes its on_error', async () => {
  const engines = new MediaFlowEngines(withPlayback({ play: async () => ({ reason: 'error' }) }));
  await assert.rejects(
    engines.play('ep-1', ['prompt:welcome'], { bargeIn: false, signal: new AbortController().signal }),
    { code: 'PLAYBACK_FAILED' },
  );
});
