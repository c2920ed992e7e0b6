import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { InvalidStateError, NotFoundError, ValidationError } from '../../../src/common/errors.ts';
import type { EndpointAudio, FrameSource } from '../../../src/media/engines/EndpointAudio.ts';
import { MediaClock } from '../../../src/media/engines/MediaClock.ts';
import type { WorkerContext } from '../../../src/media/engines/MediaEngine.ts';
import { PlaybackEngine } from '../../../src/media/engines/PlaybackEngine.ts';
import { DtmfDetector } from '../../../src/media/dtmf/DtmfDetector.ts';

/**
 * The engine against a fake worker: the endpoint's PCM side is a stand-in with EndpointAudio's
 * source semantics (setSource detaches the previous one with 'replaced'; fill() returning 0 ends
 * it), driven frame by frame by the test instead of the media clock.
 */
class FakeAudio {
  readonly endpoint: { media: object | null } = { media: {} };
  sampleRate = 8000;
  frameSamples = 160;
  source: FrameSource | null = null;
  readonly frame = new Int16Array(160);
  setSource(source: FrameSource | null): void {
    const previous = this.source;
    this.source = source;
    if (previous && previous !== source) previous.detach?.('replaced');
  }
  /** One tick: the frame, or null when there is no source or it just ended. */
  tick(): Int16Array | null {
    const source = this.source;
    if (source === null) return null;
    if (source.fill(this.frame, 0) === 0) {
      this.source = null;
      return null;
    }
    return this.frame;
  }
  close(): void {
    const source = this.source;
    this.source = null;
    source?.detach?.('closed');
  }
}

interface Harness {
  engine: PlaybackEngine;
  ctx: WorkerContext;
  audio: Map<string, FakeAudio>;
  events: Array<{ type: string; payload: Record<string, unknown> }>;
  next(type: string, pred?: (p: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function harness(t: TestContext, endpoints: string[] = ['ep1']): Harness {
  const audio = new Map(endpoints.map((id) => [id, new FakeAudio()]));
  const events: Harness['events'] = [];
  const waiters: Array<{
    type: string;
    pred: (p: Record<string, unknown>) => boolean;
    resolve: (p: Record<string, unknown>) => void;
  }> = [];
  const listeners = new Set<(endpointId: string, digit: string) => void>();
  const clock = new MediaClock();
  const ctx: WorkerContext = {
    workerIndex: 0,
    clock,
    // the HTTP test servers listen on loopback, which the default fetch policy refuses
    settings: { promptsDir: 'prompts', recordingsDir: 'recordings', mediaFetchAllow: ['127.0.0.1'] },
    endpoint: () => {
      throw new Error('not used');
    },
    audio: (id) => {
      const a = audio.get(id);
      if (a === undefined) throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${id} not found`);
      return a as unknown as EndpointAudio;
    },
    notify: (type, payload) => {
      events.push({ type, payload });
      for (const w of [...waiters]) {
        if (w.type === type && w.pred(payload)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(payload);
        }
      }
    },
    wantDigits: () => () => {},
    emitDigit: (endpointId, digit) => {
      for (const l of listeners) l(endpointId, digit);
    },
    onDigit: (l) => {
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },
  };
  const engine = new PlaybackEngine(ctx);
  t.after(() => {
    engine.close();
    clock.close();
  });
  return {
    engine,
    ctx,
    audio,
    events,
    next: (type, pred = () => true) =>
      new Promise((resolve) => {
        waiters.push({ type, pred, resolve });
      }),
  };
}

const start = (h: Harness, playbackId: string, media: string[], extra: Record<string, unknown> = {}) =>
  h.engine.handle('playback.start', { playbackId, endpointId: 'ep1', media, ...extra }) as Promise<{
    state: string;
    reason?: string;
  }>;

test('PlaybackEngine plays a playlist to the end: started, frames, then finished done with the played time', async (t) => {
  const h = harness(t);
  const info = await start(h, 'p1', ['tone:440:100', 'silence:100']);
  assert.equal(info.state, 'playing');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['playback.started'],
  );
  const audio = h.audio.get('ep1')!;
  let frames = 0;
  while (audio.tick() !== null) frames++;
  assert.equal(frames, 10, '200 ms is ten 20 ms frames');
  const finished = h.events.at(-1)!;
  assert.equal(finished.type, 'playback.finished');
  assert.deepEqual(finished.payload, { playbackId: 'p1', endpointId: 'ep1', reason: 'done', playedMs: 200 });
  assert.throws(() => h.engine.handle('playback.get', { playbackId: 'p1' }), NotFoundError);
  assert.equal(h.engine.metrics().finished_done, 1);
});

test('PlaybackEngine barge-in: a digit from ctx.emitDigit stops the playback (barge_in, with the digit) and frees the endpoint', async (t) => {
  const h = harness(t, ['ep1', 'ep2']);
  await start(h, 'p1', ['prompt:hold-music'], { bargeIn: true });
  const audio = h.audio.get('ep1')!;
  audio.tick();
  h.ctx.emitDigit('ep2', '5'); // another endpoint's digit changes nothing
  assert.notEqual(audio.source, null);
  h.ctx.emitDigit('ep1', '5');
  assert.equal(audio.source, null, 'the endpoint goes back to its relay at once');
  assert.deepEqual(h.events.at(-1)!.payload, {
    playbackId: 'p1',
    endpointId: 'ep1',
    reason: 'barge_in',
    playedMs: 20,
    digit: '5',
  });
});

test('PlaybackEngine barge-in on a digit set ignores other digits; without barge-in digits are ignored', async (t) => {
  const h = harness(t);
  await start(h, 'p1', ['prompt:hold-music'], { bargeIn: '#*' });
  assert.equal(h.engine.onDigit('ep1', '1'), false);
  assert.equal(h.engine.onDigit('ep1', '#'), true);
  assert.equal(h.events.at(-1)!.payload.reason, 'barge_in');
  await start(h, 'p2', ['prompt:hold-music']);
  assert.equal(h.engine.onDigit('ep1', '#'), false);
  assert.equal(h.engine.get('p2').state, 'playing');
});

test('PlaybackEngine: a new playback replaces the current one, which finishes stopped before the new one starts', async (t) => {
  const h = harness(t);
  await start(h, 'p1', ['prompt:hold-music']);
  await start(h, 'p2', ['prompt:beep']);
  assert.deepEqual(
    h.events.map((e) => `${e.type}:${String(e.payload.playbackId)}:${String(e.payload.reason ?? '')}`),
    ['playback.started:p1:', 'playback.finished:p1:stopped', 'playback.started:p2:'],
  );
  assert.equal(h.engine.get('p2').state, 'playing');
});

test('PlaybackEngine: a bad playlist fails the start and leaves the current playback playing', async (t) => {
  const h = harness(t);
  await start(h, 'p1', ['prompt:hold-music']);
  await assert.rejects(
    start(h, 'p2', ['prompt:beep', 'tone:nope']),
    (err: unknown) => err instanceof ValidationError && err.message.includes('tone:nope'),
  );
  await assert.rejects(start(h, 'p3', ['prompt:not-there']), NotFoundError);
  assert.equal(h.engine.get('p1').state, 'playing');
  assert.deepEqual(
    h.events.map((e) => e.type),
    ['playback.started'],
  );
  assert.equal(h.engine.metrics().failed_to_start, 2);
});

test('PlaybackEngine rejects an unknown endpoint, a duplicate id, an endpoint not negotiated yet and malformed parameters', async (t) => {
  const h = harness(t);
  await assert.rejects(
    h.engine.handle('playback.start', {
      playbackId: 'x',
      endpointId: 'nope',
      media: ['prompt:beep'],
    }) as Promise<unknown>,
    NotFoundError,
  );
  await start(h, 'p1', ['prompt:hold-music']);
  await assert.rejects(start(h, 'p1', ['prompt:beep']), InvalidStateError);
  h.audio.get('ep1')!.endpoint.media = null;
  await assert.rejects(
    start(h, 'p8', ['prompt:beep']),
    (err: unknown) => err instanceof InvalidStateError && err.code === 'ENDPOINT_NOT_NEGOTIATED',
  );
  h.audio.get('ep1')!.endpoint.media = {};
  assert.throws(
    () => h.engine.handle('playback.start', { playbackId: 'p9', endpointId: 'ep1', media: [] }),
    ValidationError,
  );
  assert.throws(
    () =>
      h.engine.handle('playback.start', {
        playbackId: 'p9',
        endpointId: 'ep1',
        media: ['prompt:beep'],
        bargeIn: 'xyz',
      }),
    ValidationError,
  );
  assert.throws(() => h.engine.handle('playback.stop', { playbackId: '../x' }), ValidationError);
});

test('PlaybackEngine pause plays silence and resume goes on where it stopped', async (t) => {
  const h = harness(t);
  await start(h, 'p1', ['tone:1000:100']);
  const audio = h.audio.get('ep1')!;
  audio.tick();
  assert.equal(h.engine.pause('p1').state, 'paused');
  const silent = audio.tick()!;
  assert.ok(
    silent.every((x) => x === 0),
    'silence while paused',
  );
  assert.equal(h.engine.resume('p1').state, 'playing');
  let frames = 0;
  while (audio.tick() !== null) frames++;
  assert.equal(frames, 4, 'the remaining 80 ms of the tone');
  assert.equal(h.events.at(-1)!.payload.reason, 'done');
});

test('PlaybackEngine: stop and endpoint close while the playlist loads finish it stopped without a start', async (t) => {
  // An HTTP item whose server holds the request: the playback stays loading until released.
  const held: ServerResponse[] = [];
  const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    held.push(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const r of held) r.destroy();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow.wav`;
  const h = harness(t);

  const pending = start(h, 'p1', [url]);
  await once(server, 'request');
  assert.equal(h.engine.get('p1').state, 'loading');
  assert.equal(h.engine.stop('p1').state, 'loading');
  assert.deepEqual(await pending, {
    playbackId: 'p1',
    endpointId: 'ep1',
    state: 'finished',
    index: 0,
    pass: 0,
    playedMs: 0,
    reason: 'stopped',
  });

  const pending2 = start(h, 'p2', [`${url}?2`]);
  await once(server, 'request');
  h.engine.onEndpointClosed('ep1');
  assert.equal((await pending2).reason, 'stopped');
  assert.deepEqual(
    h.events.map((e) => `${e.type}:${String(e.payload.reason)}`),
    ['playback.finished:stopped', 'playback.finished:stopped'],
  );
  assert.equal(h.audio.get('ep1')!.source, null, 'nothing was attached');
});

test('PlaybackEngine: closing the endpoint stops a playing playback', async (t) => {
  const h = harness(t);
  await start(h, 'p1', ['prompt:hold-music']);
  h.engine.onEndpointClosed('ep1');
  assert.equal(h.events.at(-1)!.payload.reason, 'stopped');
  assert.equal(h.audio.get('ep1')!.source, null);
});

test('PlaybackEngine plays digits: in DTMF mode as in-band tones our detector decodes, at 16 kHz too', async (t) => {
  const h = harness(t);
  const audio = h.audio.get('ep1')!;
  audio.sampleRate = 16000;
  await start(h, 'p1', ['silence:60', 'digits:74*', 'silence:60'], {
    options: { digitsMode: 'dtmf', digitDurationMs: 60 },
  });
  let digits = '';
  const detector = new DtmfDetector({
    sampleRate: 16000,
    onDigit: (e) => {
      digits += e.digit;
    },
  });
  const source = audio.source!;
  const frame = new Int16Array(320);
  let frames = 0;
  while (source.fill(frame, 0) !== 0) {
    detector.process(frame);
    frames++;
  }
  detector.flush();
  assert.equal(h.events.at(-1)!.payload.reason, 'done');
  assert.equal(digits, '74*');
  // 60 ms silence, three 60 ms tones each with 80 ms pause, 60 ms silence, padded to frames
  assert.ok(frames >= 27 && frames <= 29, `${frames} frames`);
});
