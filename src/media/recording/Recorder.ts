import { stat } from 'node:fs/promises';
import { ValidationError } from '../../common/errors.ts';
import { TypedEmitter } from '../../common/TypedEmitter.ts';
import type { RecordingResult, RecordingWriter } from './RecordingWriter.ts';
import type { RecorderState } from '../../protocol/recording.ts';

export type RecordingStopCause = 'stopped' | 'max_duration' | 'silence' | 'dtmf' | 'hangup' | 'error';

/**
 * 'mono': both directions mixed into one channel (saturating add).
 * 'stereo': two channels, fixed map so listeners know who is where:
 *   endpoint recording: left = received (the caller), right = sent (what we played to them);
 *   bridge recording:   left = leg A, right = leg B.
 * `tick(a, b)` takes them in that order: a → left, b → right.
 */
export type RecorderChannelMode = 'mono' | 'stereo';

export interface RecorderOptions {
  /** Rate of the frames given to tick() and of the writer. */
  sampleRate: number;
  channelMode?: RecorderChannelMode;
  /** Stop with 'max_duration' once this much (unpaused) audio is recorded. */
  maxDurationMs?: number;
  /** Stop with 'silence' after this much continuous silence (from the start, too). */
  maxSilenceMs?: number;
  /** A frame is silent when its RMS is below this (dBFS, full scale = 32768). Default -45. */
  silenceThresholdDbfs?: number;
  /**
   * Trailing silence that ends a recording ('silence' cause) is not written (default true): the
   * silent frames are held back and only written if sound resumes. Silence inside the recording,
   * or before a stop for any other cause, is always kept.
   */
  trimSilence?: boolean;
  /** Write a 1 kHz, 200 ms tone at the start (the caller plays beepTone() to the peer meanwhile). */
  beep?: boolean;
  /** DTMF digits that end the recording with 'dtmf', e.g. '#' or '0123456789*#'. */
  terminateOn?: string;
}

export interface RecorderResult extends RecordingResult {
  cause: RecordingStopCause;
  /** Set when cause is 'error' (writer failed, or finalising the file failed). */
  error?: Error;
}

export interface RecorderEvents {
  stopped: (r: RecorderResult) => void;
}

export type { RecorderState };

const BEEP_HZ = 1000;
const BEEP_MS = 200;
/** -6 dBFS: clearly audible, far from clipping after a codec. */
const BEEP_AMPLITUDE = 16384;

/**
 * The recording options of one recording, driven by the 20 ms media clock: mixing or channel
 * mapping, beep, pause, max duration, silence detection and DTMF termination. Pure apart from the
 * writer it feeds: no timers, no sockets. `tick()` allocates nothing.
 */
export class Recorder extends TypedEmitter<RecorderEvents> {
  readonly sampleRate: number;
  readonly channelMode: RecorderChannelMode;
  readonly #writer: RecordingWriter;
  readonly #channels: number;
  readonly #frameSamples: number;
  /** Mixed (mono) or interleaved (stereo) output frame. */
  readonly #out: Int16Array;
  readonly #beep: Int16Array;
  #beepPos: number;
  readonly #maxSamples: number;
  readonly #silenceSamples: number;
  /** Mean square (per sample) below which a frame is silent. */
  readonly #silenceMeanSquare: number;
  readonly #trim: boolean;
  readonly #terminateOn: string;
  // Held-back silent frames (trimSilence), preallocated: maxSilence / 20 ms of them.
  readonly #hold: Int16Array[];
  #held = 0;
  #silentRun = 0;
  #elapsed = 0;
  #state: RecorderState = 'recording';
  #done: Promise<RecorderResult> | null = null;

  constructor(writer: RecordingWriter, o: RecorderOptions) {
    super();
    this.sampleRate = o.sampleRate;
    this.channelMode = o.channelMode ?? 'mono';
    this.#channels = this.channelMode === 'stereo' ? 2 : 1;
    if (writer.channels !== this.#channels) {
      throw new ValidationError(
        'RECORDER_CHANNELS',
        `${this.channelMode} recording needs a ${this.#channels}-channel writer`,
      );
    }
    if (writer.sampleRate !== o.sampleRate) {
      throw new ValidationError('RECORDER_RATE', `writer is ${writer.sampleRate} Hz, recorder ${o.sampleRate} Hz`);
    }
    this.#writer = writer;
    this.#frameSamples = Math.round(o.sampleRate / 50);
    this.#out = new Int16Array(this.#frameSamples * this.#channels);
    this.#beep = o.beep === true ? Recorder.beepTone(o.sampleRate) : new Int16Array(0);
    this.#beepPos = 0;
    this.#maxSamples =
      o.maxDurationMs !== undefined && o.maxDurationMs > 0 ? Math.round((o.maxDurationMs * o.sampleRate) / 1000) : 0;
    this.#silenceSamples =
      o.maxSilenceMs !== undefined && o.maxSilenceMs > 0 ? Math.round((o.maxSilenceMs * o.sampleRate) / 1000) : 0;
    const db = o.silenceThresholdDbfs ?? -45;
    this.#silenceMeanSquare = 32768 * 32768 * Math.pow(10, db / 10);
    this.#trim = this.#silenceSamples > 0 && (o.trimSilence ?? true);
    this.#terminateOn = o.terminateOn ?? '';
    const holdFrames = this.#trim ? Math.ceil(this.#silenceSamples / this.#frameSamples) : 0;
    this.#hold = [];
    for (let i = 0; i < holdFrames; i++) this.#hold.push(new Int16Array(this.#out.length));
  }

  /** A 1 kHz tone of `ms` at `sampleRate`, 5 ms ramps (no clicks): what `beep` writes. */
  static beepTone(sampleRate: number, ms = BEEP_MS): Int16Array {
    const n = Math.round((sampleRate * ms) / 1000);
    const ramp = Math.round(sampleRate / 200);
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      const g = Math.min(1, i / ramp, (n - 1 - i) / ramp);
      out[i] = Math.round(BEEP_AMPLITUDE * g * Math.sin((2 * Math.PI * BEEP_HZ * i) / sampleRate));
    }
    return out;
  }

  get state(): RecorderState {
    return this.#state;
  }

  /** Audio recorded so far (unpaused time, including held-back silence). */
  get elapsedMs(): number {
    return (this.#elapsed / this.sampleRate) * 1000;
  }

  /** Resolves once stopped and the file is final; never rejects (errors give cause 'error'). */
  get done(): Promise<RecorderResult> | null {
    return this.#done;
  }

  /**
   * One clock tick: `a` is the received / leg A frame, `b` the sent / leg B frame (either may be
   * null: silence). Paused or stopped recorders ignore it.
   */
  tick(a: Int16Array | null, b?: Int16Array | null): void {
    if (this.#state !== 'recording') return;
    if (this.#writer.error !== null) {
      void this.stop('error');
      return;
    }
    const n = this.#frameSamples;
    const out = this.#out;
    const aLen = a === null ? 0 : a.length;
    const bLen = b === null || b === undefined ? 0 : b.length;
    if (this.#channels === 1) {
      for (let i = 0; i < n; i++) {
        const s = (i < aLen ? a![i]! : 0) + (i < bLen ? b![i]! : 0);
        out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
      }
    } else {
      for (let i = 0; i < n; i++) {
        out[2 * i] = i < aLen ? a![i]! : 0;
        out[2 * i + 1] = i < bLen ? b![i]! : 0;
      }
    }
    if (this.#beepPos < this.#beep.length) this.#overlayBeep();
    this.#elapsed += n;

    if (this.#silenceSamples > 0) {
      if (this.#isSilent()) {
        this.#silentRun += n;
        if (this.#trim) this.#holdFrame();
        else this.#writer.write(out);
        if (this.#silentRun >= this.#silenceSamples) {
          void this.stop('silence');
          return;
        }
      } else {
        this.#silentRun = 0;
        this.#writeHeld();
        this.#writer.write(out);
      }
    } else {
      this.#writer.write(out);
    }
    if (this.#maxSamples > 0 && this.#elapsed >= this.#maxSamples) void this.stop('max_duration');
  }

  /** Paused time is neither written nor counted toward max duration or silence. */
  pause(): void {
    if (this.#state === 'recording') this.#state = 'paused';
  }

  resume(): void {
    if (this.#state === 'paused') this.#state = 'recording';
  }

  /** A DTMF digit from the peer (RFC 4733 or in-band detector); may end the recording. */
  onDtmf(digit: string): void {
    if (this.#state !== 'recording' && this.#state !== 'paused') return;
    if (digit.length === 1 && this.#terminateOn.includes(digit.toUpperCase())) void this.stop('dtmf');
  }

  /** The call ended. */
  hangup(): Promise<RecorderResult> {
    return this.stop('hangup');
  }

  /**
   * Stop now (idempotent: the first cause wins) and finalise the file. Ticks after this are
   * ignored at once; the promise resolves when the file is closed.
   */
  stop(cause: RecordingStopCause = 'stopped'): Promise<RecorderResult> {
    if (this.#done !== null) return this.#done;
    this.#state = 'stopping';
    if (cause !== 'silence') this.#writeHeld();
    this.#held = 0;
    this.#done = this.#finish(cause);
    return this.#done;
  }

  async #finish(cause: RecordingStopCause): Promise<RecorderResult> {
    let r: RecorderResult;
    try {
      const res = await this.#writer.close();
      r = { ...res, cause };
    } catch (err) {
      // The writer could not finalise: report at least the bytes the file holds.
      const error = err instanceof Error ? err : new Error(String(err));
      const bytes = await stat(this.#writer.path).then(
        (st) => st.size,
        () => 0,
      );
      r = {
        path: this.#writer.path,
        format: this.#writer.format,
        bytes,
        durationMs: 0,
        droppedFrames: this.#writer.stats.droppedFrames,
        cause: 'error',
        error,
      };
    }
    // A writer that failed (disk full) but kept its file playable resolves with what it holds.
    if (r.error === undefined && this.#writer.error !== null) r = { ...r, cause: 'error', error: this.#writer.error };
    this.#state = 'stopped';
    this.emit('stopped', r);
    return r;
  }

  #overlayBeep(): void {
    const out = this.#out;
    const ch = this.#channels;
    for (let i = 0; i < this.#frameSamples && this.#beepPos < this.#beep.length; i++) {
      const s = this.#beep[this.#beepPos++]!;
      out[i * ch] = s;
      if (ch === 2) out[i * ch + 1] = s;
    }
  }

  /** RMS below threshold, compared as mean square so no log per frame. */
  #isSilent(): boolean {
    const out = this.#out;
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i]! * out[i]!;
    return sum < this.#silenceMeanSquare * out.length;
  }

  #holdFrame(): void {
    if (this.#held === this.#hold.length) {
      // Cannot happen while maxSilence stops first, but never lose audio: write the oldest.
      this.#writeHeld();
    }
    this.#hold[this.#held]!.set(this.#out);
    this.#held++;
  }

  #writeHeld(): void {
    for (let i = 0; i < this.#held; i++) this.#writer.write(this.#hold[i]!);
    this.#held = 0;
  }
}
