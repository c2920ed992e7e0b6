import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointAudio } from '../../../src/media/engines/EndpointAudio.ts';
import type { Clocked, MediaClock } from '../../../src/media/engines/MediaClock.ts';
import { EndpointTalk } from '../../../src/media/engines/talk/EndpointTalk.ts';

const RATE = 8000;
const loud = new Int16Array(160).fill(8000);
const quiet = new Int16Array(160);

function setup() {
  const taps = new Set<unknown>();
  const clocked = new Set<Clocked>();
  const audio = { taps } as unknown as EndpointAudio;
  const clock = {
    add: (c: Clocked) => clocked.add(c),
    delete: (c: Clocked) => clocked.delete(c),
  } as unknown as MediaClock;
  const events: Array<[boolean, number]> = [];
  const talk = new EndpointTalk('ep', audio, clock, (_t, talking, ms) => events.push([talking, ms]));
  talk.published = true;
  return { talk, taps, clocked, events };
}

test('EndpointTalk taps the endpoint, reports talk on received audio only (not what we send)', () => {
  const { talk, taps, events } = setup();
  assert.ok(taps.has(talk));
  for (let i = 0; i < 20; i++) talk.onAudio(loud, RATE, 'out', i * 20);
  assert.deepEqual(events, []);
  for (let i = 0; i < 5; i++) talk.onAudio(loud, RATE, 'in', i * 20);
  assert.deepEqual(events, [[true, 0]]);
  talk.close();
  assert.ok(!taps.has(talk));
});

test('EndpointTalk: a peer that stops sending while talking (DTX) is fed silence on the media clock and the talk ends', () => {
  const { talk, clocked, events } = setup();
  talk.configure({ silenceMs: 200 });
  for (let i = 0; i < 10; i++) talk.onAudio(loud, RATE, 'in', i * 20);
  assert.ok(clocked.has(talk), 'on the clock while talking');
  // No packet after 200 ms: ticks within the gap feed nothing, later ones 20 ms of silence each.
  talk.onTick(220);
  assert.equal(talk.talking, true);
  for (let t = 280; t < 280 + 10 * 20; t += 20) talk.onTick(t);
  assert.deepEqual(events, [
    [true, 0],
    [false, 200],
  ]);
  talk.onTick(600);
  assert.ok(!clocked.has(talk), 'off the clock once silent');
});

test('EndpointTalk.configure() during a talk keeps its onset: the length reported covers all of it', () => {
  const { talk, events } = setup();
  talk.configure({ silenceMs: 100 });
  for (let i = 0; i < 10; i++) talk.onAudio(loud, RATE, 'in', i * 20);
  talk.configure({ silenceMs: 100, thresholdDbfs: -30 });
  for (let i = 0; i < 10; i++) talk.onAudio(loud, RATE, 'in', 200 + i * 20);
  for (let i = 0; i < 5; i++) talk.onAudio(quiet, RATE, 'in', 400 + i * 20);
  assert.deepEqual(events, [
    [true, 0],
    [false, 400],
  ]);
});
