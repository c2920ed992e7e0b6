import { unlink } from 'node:fs/promises';
import { InvalidStateError, NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import { createRecordingWriter } from '../recording/createRecordingWriter.ts';
import { EncoderPool } from '../recording/EncoderPool.ts';
import { Recorder, type RecorderResult } from '../recording/Recorder.ts';
import type { RecordingWriter } from '../recording/RecordingWriter.ts';
import type {
  Handlers,
  RecordingOutcome,
  RecordingRequests,
  RecordingStartParams,
  RecordingStarted,
} from '../../protocol/index.ts';
import { findConference } from './ConferenceEngine.ts';
import type { EndpointAudio } from './EndpointAudio.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { ActiveRecording, type EndingSource, type TapSpec } from './recording/ActiveRecording.ts';

const FORMATS: readonly string[] = ['wav', 'mp3', 'opus'];
const IF_EXISTS: readonly string[] = ['fail', 'overwrite', 'append'];

/**
 * The recording engine of a media worker (`recording.*` requests): recordings of an endpoint, of
 * a bridge's two legs or of a conference's mix, received audio placed by RTP timestamp, written on the media clock (sample-exact on a
 * loss-free stream, legs aligned by arrival) (DESIGN.md, "Media model"). Every recording ends in exactly one `recording.finished`
 * notification: stopped, by its own options (max duration, silence, DTMF), when its endpoint
 * closes or its conference ends ('hangup'), or when the worker shuts down ('shutdown'; the file is finalised first).
 */
export class RecordingEngine implements MediaEngine<RecordingRequests> {
  readonly #ctx: WorkerContext;
  readonly #active = new Map<string, ActiveRecording>();
  /** Ids whose writer is being opened (start in flight). */
  readonly #opening = new Map<string, { endpointIds: string[]; gone: boolean; done: Promise<unknown> }>();
  readonly #offDigit: () => void;
  #closed = false;
  readonly #counters = { started: 0, finished: 0, errors: 0 };
  // totals of finished recordings, so metrics stay monotonic
  #closedUnderruns = 0;
  #closedDroppedSamples = 0;

  readonly #encodersWarm: Promise<void>;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
    this.#offDigit = ctx.onDigit((endpointId, digit) => this.onDigit(endpointId, digit));
    // Start the encoder threads and warm lamejs and the Opus WASM now, not on the first MP3/Opus
    // recording (settings.warmEncoders false: tests and tools that record WAV only).
    this.#encodersWarm = ctx.settings.warmEncoders === false ? Promise.resolve() : EncoderPool.shared().warm();
  }

  warmUp(): Promise<void> {
    return this.#encodersWarm;
  }

  readonly handlers: Handlers<RecordingRequests> = {
    'recording.start': (p) => this.#start(p),
    'recording.stop': (p) => this.stop(p.recordingId, p.cause === 'hangup' ? 'hangup' : 'stopped'),
    'recording.pause': (p) => {
      this.#get(p.recordingId).pause();
      return { recordingId: p.recordingId, state: 'paused' };
    },
    'recording.resume': (p) => {
      const rec = this.#get(p.recordingId);
      rec.resume();
      return { recordingId: p.recordingId, state: 'recording' };
    },
    'recording.get': (p) => {
      const rec = this.#get(p.recordingId);
      return { recordingId: rec.id, state: rec.recorder.state, elapsedMs: Math.round(rec.recorder.elapsedMs) };
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof RecordingRequests>(method: M, params: RecordingRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  /** Stops a recording and resolves with the finalised file. */
  async stop(recordingId: string, cause: 'stopped' | 'hangup' = 'stopped'): Promise<RecordingOutcome> {
    const rec = this.#get(recordingId);
    if (rec.recorder.done === null) rec.drain();
    return rec.outcome(await rec.recorder.stop(cause));
  }

  /** A DTMF digit on an endpoint: recordings of it with `terminateOn` may end ('dtmf'). */
  onDigit(endpointId: string, digit: string): void {
    for (const rec of this.#active.values()) {
      if (!rec.endpointIds.includes(endpointId)) continue;
      const state = rec.recorder.state;
      if (
        rec.digit === null &&
        (state === 'recording' || state === 'paused') &&
        rec.terminateOn.includes(digit.toUpperCase())
      )
        rec.digit = digit;
      rec.recorder.onDtmf(digit);
    }
  }

  onEndpointClosed(endpointId: string): void {
    for (const rec of this.#active.values()) {
      if (rec.endpointIds.includes(endpointId)) {
        // The endpoint's audio goes with it: stop tapping now, finish writing in the background.
        rec.detach();
        if (rec.recorder.done === null) rec.drain();
        void rec.recorder.hangup();
      }
    }
    for (const o of this.#opening.values()) if (o.endpointIds.includes(endpointId)) o.gone = true;
  }

  metrics(): Record<string, number> {
    let underruns = this.#closedUnderruns;
    let dropped = this.#closedDroppedSamples;
    for (const rec of this.#active.values()) {
      underruns += rec.underruns;
      dropped += rec.droppedSamples;
    }
    return {
      active: this.#active.size,
      started: this.#counters.started,
      finished: this.#counters.finished,
      errors: this.#counters.errors,
      silentFrames: underruns,
      droppedSamples: dropped,
    };
  }

  /** Finalises every recording (cause 'shutdown') and waits for the files to be closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#offDigit();
    await Promise.allSettled([...this.#opening.values()].map((o) => o.done));
    await Promise.all(
      [...this.#active.values()].map((rec) => {
        if (rec.recorder.done === null) {
          rec.reportedCause = 'shutdown';
          rec.drain();
        }
        return rec.recorder.stop('hangup');
      }),
    );
  }

  #get(id: string): ActiveRecording {
    const rec = this.#active.get(id);
    if (!rec) throw new NotFoundError('RECORDING_NOT_FOUND', `recording ${id} not found`);
    return rec;
  }

  async #start(p: RecordingStartParams): Promise<RecordingStarted> {
    if (this.#closed) throw new InvalidStateError('SHUTTING_DOWN', 'the media worker is shutting down');
    const id = p.recordingId;
    if (typeof id !== 'string' || id === '') throw new ValidationError('VALIDATION_ERROR', 'recordingId is required');
    if (this.#active.has(id) || this.#opening.has(id))
      throw new InvalidStateError('RECORDING_EXISTS', `recording ${id} exists`);
    if (!FORMATS.includes(p.format)) throw new ValidationError('VALIDATION_ERROR', `format must be wav, mp3 or opus`);
    const o = p.options ?? {};
    if (o.ifExists !== undefined && !IF_EXISTS.includes(o.ifExists))
      throw new ValidationError('VALIDATION_ERROR', 'ifExists must be fail, overwrite or append');
    const stereo = p.channels === 'stereo';

    // Resolve the audio sides first: an unknown endpoint fails before any file is created.
    let specs: TapSpec[];
    let endpointIds: string[];
    let rate: number;
    let beepTo: EndpointAudio[];
    let source: EndingSource | null = null;
    if (typeof p.conferenceId === 'string') {
      const room = findConference(this.#ctx, p.conferenceId);
      if (room === undefined || room.ended)
        throw new NotFoundError(
          'CONFERENCE_NOT_FOUND',
          `conference ${p.conferenceId} not found on media worker ${this.#ctx.workerIndex}`,
        );
      if (stereo) throw new UnsupportedError('UNSUPPORTED_CHANNELS', 'a conference recording is mono: the full mix');
      specs = [{ taps: room.taps, audio: null, inChannel: -1, outChannel: 0 }];
      endpointIds = [];
      rate = room.sampleRate;
      beepTo = [];
      source = room;
    } else if (p.bridge !== undefined) {
      const a = this.#localAudio(p.bridge.a);
      const b = this.#localAudio(p.bridge.b);
      specs = [
        { taps: a.taps, audio: a, inChannel: 0, outChannel: -1 },
        { taps: b.taps, audio: b, inChannel: 1, outChannel: -1 },
      ];
      endpointIds = [p.bridge.a, p.bridge.b];
      // the higher rate of the two legs, so neither loses bandwidth
      rate = Math.max(a.sampleRate, b.sampleRate);
      beepTo = [a, b];
    } else if (typeof p.endpointId === 'string') {
      const audio = this.#ctx.audio(p.endpointId);
      specs = [{ taps: audio.taps, audio, inChannel: 0, outChannel: 1 }];
      endpointIds = [p.endpointId];
      rate = audio.sampleRate;
      beepTo = [audio];
    } else {
      throw new ValidationError('VALIDATION_ERROR', 'recording.start needs endpointId, bridge or conferenceId');
    }

    let resolveOpen!: () => void;
    const pending = {
      endpointIds,
      gone: false,
      done: new Promise<void>((r) => {
        resolveOpen = r;
      }),
    };
    this.#opening.set(id, pending);
    let writer: RecordingWriter;
    try {
      writer = await createRecordingWriter({
        path: p.path,
        format: p.format,
        sampleRate: rate,
        channels: stereo ? 2 : 1,
        ...(o.ifExists !== undefined ? { ifExists: o.ifExists } : {}),
        ...(o.bitrate !== undefined ? { bitrate: o.bitrate } : {}),
        ...(o.encoder !== undefined ? { encoder: o.encoder } : {}),
        comments: [`RECORDING_ID=${id}`],
      });
    } catch (err) {
      this.#opening.delete(id);
      resolveOpen();
      throw err;
    }
    this.#opening.delete(id);
    resolveOpen();
    if (pending.gone || this.#closed) {
      // The call ended (or the worker is stopping) while the file was being opened: nothing was
      // recorded, so leave no empty file behind.
      await writer.close().catch(() => undefined);
      if (o.ifExists !== 'append') await unlink(p.path).catch(() => undefined);
      if (this.#closed) throw new InvalidStateError('SHUTTING_DOWN', 'the media worker is shutting down');
      throw new NotFoundError(
        'ENDPOINT_NOT_FOUND',
        `endpoint ${endpointIds.join(' or ')} closed before the recording started`,
      );
    }

    const recorder = new Recorder(writer, {
      sampleRate: rate,
      channelMode: stereo ? 'stereo' : 'mono',
      ...(o.maxDurationMs !== undefined ? { maxDurationMs: o.maxDurationMs } : {}),
      ...(o.maxSilenceMs !== undefined ? { maxSilenceMs: o.maxSilenceMs } : {}),
      ...(o.silenceThresholdDbfs !== undefined ? { silenceThresholdDbfs: o.silenceThresholdDbfs } : {}),
      ...(o.terminateOn !== undefined ? { terminateOn: o.terminateOn } : {}),
      ...(o.beep === true ? { beep: true } : {}),
    });
    const bridgeId = p.bridge?.id ?? null;
    const rec = new ActiveRecording(id, endpointIds, bridgeId, recorder, (o.terminateOn ?? '').toUpperCase());
    rec.source = source;
    rec.conferenceId = p.conferenceId ?? null;
    recorder.once('stopped', (r) => this.#finished(rec, r));
    this.#active.set(id, rec);
    this.#counters.started++;
    rec.attach(specs);
    // terminate_on consumes the recorded endpoints' digits: in-band detection runs there meanwhile
    if (rec.terminateOn !== '') for (const ep of endpointIds) rec.digitDemands.push(this.#ctx.wantDigits(ep));
    if (p.bridge === undefined && typeof p.endpointId === 'string') {
      rec.followRelay(beepTo[0]!, (ep) => {
        try {
          return this.#ctx.audio(ep.id);
        } catch {
          return null;
        }
      });
    }
    if (o.beep === true) for (const audio of beepTo) rec.beep(audio);
    this.#ctx.clock.add(rec);
    const started: RecordingStarted = {
      recordingId: id,
      path: writer.path,
      format: p.format,
      sampleRate: rate,
      channels: stereo ? 2 : 1,
    };
    this.#ctx.notify('recording.started', { ...started, ...rec.subject() });
    return started;
  }

  /** The endpoint's audio; a bridge leg that is not ours cannot be tapped here. */
  #localAudio(endpointId: string): EndpointAudio {
    try {
      return this.#ctx.audio(endpointId);
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new InvalidStateError(
          'BRIDGE_CROSS_WORKER',
          `endpoint ${endpointId} is not on media worker ${this.#ctx.workerIndex}: a bridge recording needs both legs on one worker`,
        );
      }
      throw err;
    }
  }

  #finished(rec: ActiveRecording, r: RecorderResult): void {
    this.#ctx.clock.delete(rec);
    rec.detach();
    this.#active.delete(rec.id);
    this.#closedUnderruns += rec.underruns;
    this.#closedDroppedSamples += rec.droppedSamples;
    this.#counters.finished++;
    if (r.cause === 'error') this.#counters.errors++;
    const outcome = rec.outcome(r);
    this.#ctx.notify('recording.finished', { ...outcome, ...rec.subject() });
  }
}
