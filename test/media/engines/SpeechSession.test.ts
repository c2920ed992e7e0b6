import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpeechFinished, SpeechStartParams } from '../../../src/protocol/index.ts';
import type { EndpointAudio } from '../../../src/media/engines/EndpointAudio.ts';
import type { MediaClock } from '../../../src/media/engines/MediaClock.ts';
import { EndpointTalk } from '../../../src/media/engines/talk/EndpointTalk.ts';
import { PREROLL_MS, SpeechSession } from '../../../src/media/engines/speech/SpeechSession.ts';
import type {
  RecognizerEvents,
  RecognizerStream,
  SpeechRecognizer,
} from '../../../src/media/engines/speech/SpeechRecognizer.ts';

const RATE = 8000;
const FRAME = 160;

/** A recogniser that keeps what it is given; the test plays its answers. */
class RecordingRecognizer implements SpeechRecognizer {
  written: number[] = [];
  ended = false;
  closed = false;
  events: RecognizerEvents | null = null;
  open(_o: unknown, events: RecognizerEvents): RecognizerStream {
    this.events = events;
    return {
      write: (pcm) => {
        for (const v of pcm) this.written.push(v);
      },
      end: () => {
        this.ended = true;
      },
      close: () => {
        this.closed = true;
      },
    };
  }
}

/** An EndpointTalk fed by hand (no sockets: its audio and clock are stand-ins). */
function talkOn(): EndpointTalk {
  const audio = { taps: new Set() } as unknown as EndpointAudio;
  const clock = { add() {}, delete() {} } as unknown as MediaClock;
  return new EndpointTalk('ep', audio, clock, () => {});
}

/** One 20 ms frame whose samples all hold `value` (the frame's index, to find it again). */
function frame(value: number): Int16Array {
  return new Int16Array(FRAME).fill(value);
}

const LOUD = 8000; // about -12 dBFS
const QUIET = 0;

function start(talk: EndpointTalk, asr: SpeechRecognizer, over: Partial<SpeechStartParams> = {}) {
  const results: SpeechFinished[] = [];
  const params: SpeechStartParams = {
    sessionId: 's1',
    endpointId: 'ep',
    url: 'ws://unused',
    noInputMs: 5000,
    maxSpeechMs: 10_000,
    ...over,
  };
  const session = new SpeechSession(
    params,
    RATE,
    asr,
    (w) => {
      talk.watchers.add(w);
      return { talk, off: () => talk.watchers.delete(w) };
    },
    (_s, r) => results.push(r),
  );
  return { session, results };
}

test('SpeechSession writes nothing before talk, then the talk from PREROLL_MS before its onset, ends the utterance after the silence, and reports the final', () => {
  const talk = talkOn();
  talk.configure({ minTalkMs: 60, silenceMs: 200 });
  const asr = new RecordingRecognizer();
  const { results } = start(talk, asr);
  // 1 s of quiet (frames marked 1..50, at a level far below the threshold), then 1 s of talk.
  for (let i = 1; i <= 50; i++) talk.onAudio(frame(QUIET + (i % 2)), RATE, 'in', i * 20);
  assert.equal(asr.written.length, 0, 'nothing before the talk');
  for (let i = 0; i < 50; i++) talk.onAudio(frame(LOUD), RATE, 'in', 1000 + i * 20);
  // The first 3 loud frames started the talk: written with 300 ms of what came before.
  const before = (PREROLL_MS / 20) * FRAME;
  assert.equal(asr.written.length, before + 50 * FRAME);
  assert.ok(asr.written.slice(0, before).every((v) => v === 0 || v === 1));
  assert.ok(asr.written.slice(before).every((v) => v === LOUD));
  assert.equal(asr.ended, false);
  for (let i = 0; i < 10; i++) talk.onAudio(frame(QUIET), RATE, 'in', 2000 + i * 20);
  assert.equal(asr.ended, true, 'ended by 200 ms of silence');
  asr.events!.partial('billing');
  asr.events!.final('billing please', 0.75);
  assert.equal(results.length, 1);
  assert.deepEqual(
    { ...results[0], sessionId: 's1' },
    {
      sessionId: 's1',
      endpointId: 'ep',
      status: 'recognized',
      transcript: 'billing please',
      confidence: 0.75,
      speechMs: Math.round((asr.written.length * 1000) / RATE),
    },
  );
  assert.equal(asr.closed, true);
  assert.equal(talk.watchers.size, 0, 'stopped watching');
});

test('SpeechSession: talk already under way when it starts (a barge-in) is the utterance, from before its onset', () => {
  const talk = talkOn();
  const asr = new RecordingRecognizer();
  for (let i = 0; i < 20; i++) talk.onAudio(frame(QUIET), RATE, 'in', i * 20);
  for (let i = 0; i < 10; i++) talk.onAudio(frame(LOUD), RATE, 'in', 400 + i * 20);
  assert.equal(talk.talking, true);
  start(talk, asr);
  assert.equal(asr.written.length, (10 + PREROLL_MS / 20) * FRAME);
});

test('SpeechSession: no talk within noInputMs is a no_input, with nothing written', async () => {
  const talk = talkOn();
  const asr = new RecordingRecognizer();
  const { results } = start(talk, asr, { noInputMs: 100 });
  for (let i = 0; i < 10; i++) talk.onAudio(frame(QUIET), RATE, 'in', i * 20);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(results[0]?.status, 'no_input');
  assert.equal(asr.written.length, 0);
  assert.equal(asr.closed, true);
});

test('SpeechSession: an empty final after audio is a no_match; a recogniser error reports it with the last partial', () => {
  for (const [answer, status] of [
    ['empty', 'no_match'],
    ['error', 'error'],
  ] as const) {
    const talk = talkOn();
    talk.configure({ silenceMs: 100 });
    const asr = new RecordingRecognizer();
    const { results } = start(talk, asr);
    for (let i = 0; i < 10; i++) talk.onAudio(frame(LOUD), RATE, 'in', i * 20);
    asr.events!.partial('some');
    if (answer === 'empty') asr.events!.final('', 0);
    else asr.events!.error('recogniser: overloaded');
    assert.equal(results[0]?.status, status);
    if (status === 'error')
      assert.deepEqual([results[0]?.transcript, results[0]?.error], ['some', 'recogniser: overloaded']);
  }
});

test('SpeechSession: maxSpeechMs cuts a long talk (end() while the caller still talks)', async () => {
  const talk = talkOn();
  const asr = new RecordingRecognizer();
  start(talk, asr, { maxSpeechMs: 100 });
  for (let i = 0; i < 5; i++) talk.onAudio(frame(LOUD), RATE, 'in', i * 20);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(asr.ended, true);
  assert.equal(talk.talking, true);
});
