import { randomUUID } from 'node:crypto';
import { InvalidStateError, NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import type {
  PlaybackFinished,
  PlaybackFinishReason,
  PlaybackItemOptions,
  PlaybackStarted,
  PlaybackStartParams,
  PlaybackState,
} from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface PlaybackHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
}

export type { PlaybackFinishReason, PlaybackState };

export interface StartPlaybackRequest {
  endpointId?: string;
  conferenceId?: string;
  /** Media items: `prompt:NAME`, a path, `http(s)://`, `tts:TEXT`, `tone:SPEC`, `silence:MS`, `digits:123`. */
  media: string[];
  /** Times the playlist is played; true: until stopped. */
  loop?: number | boolean;
  /** Stop on DTMF: true for any digit, or the digits that interrupt. */
  bargeIn?: boolean | string;
  /** Stop when the caller starts talking (talk detection on the endpoint). */
  bargeInSpeech?: boolean;
  voice?: string;
  lang?: string;
  /** TTS speed factor (1 = normal). */
  rate?: number;
  /** TTS engine name. */
  engine?: string;
  /** `digits:` items spoken (default) or played as DTMF tones. */
  digitsMode?: 'speak' | 'dtmf';
  digitDurationMs?: number;
}

export interface PlaybackRecord {
  id: string;
  endpointId?: string;
  conferenceId?: string;
  state: PlaybackState;
  media: string[];
  loop?: number | boolean;
  bargeIn?: boolean | string;
  bargeInSpeech?: boolean;
  createdAt: string;
  finishedAt?: string;
  reason?: PlaybackFinishReason;
  /** The digit that stopped a barge-in playback. */
  digit?: string;
  error?: string;
  playedMs?: number;
}

/** How an endpoint playback of a flow (`play()`, `say()`) ended. */
export interface EndpointPlayResult {
  reason: PlaybackFinishReason;
  digit?: string;
}

export interface EndpointPlayOptions extends Omit<StartPlaybackRequest, 'endpointId' | 'conferenceId' | 'media'> {
  /** Aborting stops the playback; play() then resolves promptly with reason 'stopped'. */
  signal?: AbortSignal;
}

/** Item options the endpoint player honours and a conference playback does not (API names). */
const ENDPOINT_ONLY_OPTIONS = [
  ['voice', 'voice'],
  ['lang', 'lang'],
  ['rate', 'rate'],
  ['engine', 'engine'],
  ['digitsMode', 'digits_mode'],
  ['digitDurationMs', 'digit_duration_ms'],
] as const;

interface Entry {
  record: PlaybackRecord;
  workerIndex: number;
  finished: Promise<PlaybackRecord>;
  resolve: (r: PlaybackRecord) => void;
  /** stop() came while a conference playback was loading (its engine knew nothing to stop yet). */
  stopWanted?: boolean;
}

/**
 * Where playbacks into a conference go (the ConferenceService: its play() mixes a player into the
 * room and its engine reports playback.started/finished with the same playback id).
 */
export interface ConferencePlaybackTarget {
  play(conferenceId: string, media: string[], opts: { playbackId?: string; loop?: number | boolean }): Promise<unknown>;
  stopPlay(conferenceId: string, playbackId: string): Promise<void>;
  workerOf?(conferenceId: string): number;
}

export interface PlaybackServiceOptions {
  /** Finished playbacks kept for GET /playback/:id. Default 1000. */
  keepFinished?: number;
  /** Where `conferenceId` playbacks go (the conference service); without it they are refused. */
  conferences?: ConferencePlaybackTarget;
}

/**
 * Playback on the control plane: ids and state of every playback, requests to the worker owning
 * the endpoint (`playback.*` of the media worker's PlaybackEngine), state kept in step from the
 * engine's `playback.started` / `playback.finished` events on the bus. `play()` and `say()` are
 * the awaitable forms the flow engine uses: they resolve with the finishing reason and honour an
 * AbortSignal.
 */
export class PlaybackService {
  readonly #host: PlaybackHost;
  readonly #entries = new Map<string, Entry>();
  /** Finished ids, oldest first, to bound what is kept. */
  readonly #finishedOrder: string[] = [];
  readonly #keepFinished: number;
  readonly #conferences: ConferencePlaybackTarget | undefined;

  constructor(host: PlaybackHost, opts: PlaybackServiceOptions = {}) {
    this.#host = host;
    this.#keepFinished = opts.keepFinished ?? 1000;
    this.#conferences = opts.conferences;
  }

  /** The engine's `playback.started` (an endpoint's or a conference's playback). */
  onStarted(n: PlaybackStarted): void {
    const entry = this.#entries.get(n.playbackId);
    if (entry !== undefined && entry.record.state === 'loading') entry.record.state = 'playing';
    this.#host.events.publish('playback.started', wire.playbackStarted(n));
  }

  /** The engine's `playback.finished`: the record ends, then the event goes out. */
  onFinished(n: PlaybackFinished): void {
    const entry = this.#entries.get(n.playbackId);
    if (entry !== undefined && entry.record.state !== 'finished') {
      const r: Partial<PlaybackRecord> = { reason: n.reason, playedMs: n.playedMs };
      if (n.digit !== undefined) r.digit = n.digit;
      if (n.error !== undefined) r.error = n.error;
      this.#finish(entry, r);
    }
    this.#host.events.publish('playback.finished', wire.playbackFinished(n));
  }

  /** The worker died: its playbacks end in error (no notification will come). */
  workerDied(workerIndex: number): void {
    for (const entry of this.#entries.values()) {
      if (entry.workerIndex === workerIndex && entry.record.state !== 'finished')
        this.#finish(entry, { reason: 'error', error: 'media worker died' });
    }
  }

  #finish(entry: Entry, r: Partial<PlaybackRecord>): void {
    Object.assign(entry.record, r);
    entry.record.state = 'finished';
    entry.record.finishedAt = new Date().toISOString();
    this.#finishedOrder.push(entry.record.id);
    while (this.#finishedOrder.length > this.#keepFinished) this.#entries.delete(this.#finishedOrder.shift() as string);
    entry.resolve(entry.record);
  }

  /**
   * Starts a playback; resolves once its playlist is resolved and it plays (or was stopped while
   * loading). Unknown endpoint: NotFoundError; a bad or missing media item: ValidationError naming it.
   */
  async start(req: StartPlaybackRequest): Promise<PlaybackRecord> {
    const entry = await this.#begin(req);
    return { ...entry.record };
  }

  async #begin(req: StartPlaybackRequest): Promise<Entry> {
    if (req.conferenceId !== undefined && req.endpointId === undefined)
      return this.#beginConference(req.conferenceId, req);
    const endpointId = req.endpointId;
    if (endpointId === undefined)
      throw new ValidationError('INVALID_PLAYBACK', 'endpoint_id or conference_id is required');
    if (!this.#host.hasEndpoint(endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
    const id = randomUUID();
    const record: PlaybackRecord = {
      id,
      endpointId,
      state: 'loading',
      media: [...req.media],
      createdAt: new Date().toISOString(),
    };
    if (req.loop !== undefined) record.loop = req.loop;
    if (req.bargeIn !== undefined) record.bargeIn = req.bargeIn;
    if (req.bargeInSpeech !== undefined) record.bargeInSpeech = req.bargeInSpeech;
    let resolve: (r: PlaybackRecord) => void = () => undefined;
    const finished = new Promise<PlaybackRecord>((r) => {
      resolve = r;
    });
    const entry: Entry = { record, workerIndex: this.#host.workerOf(endpointId), finished, resolve };
    // Registered before the request: the engine's events may arrive before its reply.
    this.#entries.set(id, entry);
    const options: PlaybackItemOptions = {};
    if (req.voice !== undefined) options.voice = req.voice;
    if (req.lang !== undefined) options.lang = req.lang;
    if (req.rate !== undefined) options.rate = req.rate;
    if (req.engine !== undefined) options.engine = req.engine;
    if (req.digitsMode !== undefined) options.digitsMode = req.digitsMode;
    if (req.digitDurationMs !== undefined) options.digitDurationMs = req.digitDurationMs;
    const params: PlaybackStartParams = { playbackId: id, endpointId, media: req.media, options };
    if (req.loop !== undefined) params.loop = req.loop;
    if (req.bargeIn !== undefined) params.bargeIn = req.bargeIn;
    if (req.bargeInSpeech !== undefined) params.bargeInSpeech = req.bargeInSpeech;
    try {
      await this.#host.request(entry.workerIndex, 'playback.start', params);
    } catch (err) {
      this.#entries.delete(id);
      // A missing prompt or file is a bad media item of this request (400), not an unknown object.
      if (err instanceof NotFoundError && err.code !== 'ENDPOINT_NOT_FOUND')
        throw new ValidationError(err.code, err.message);
      throw err;
    }
    if (record.state === 'loading') record.state = 'playing';
    return entry;
  }

  /** Into a conference: the conference engine mixes the player; only loop applies (no barge-in, no TTS options). */
  async #beginConference(conferenceId: string, req: StartPlaybackRequest): Promise<Entry> {
    const target = this.#conferences;
    if (target === undefined) {
      throw new UnsupportedError(
        'CONFERENCE_PLAYBACK_UNAVAILABLE',
        `playback into conference ${conferenceId} is not available`,
      );
    }
    if ((req.bargeIn !== undefined && req.bargeIn !== false) || req.bargeInSpeech === true)
      throw new ValidationError('INVALID_PLAYBACK', 'barge_in applies to endpoint playbacks only');
    // The conference engine's player takes no item options: refuse them rather than drop them.
    for (const [k, name] of ENDPOINT_ONLY_OPTIONS) {
      if (req[k] !== undefined)
        throw new ValidationError('INVALID_PLAYBACK', `${name} applies to endpoint playbacks only`);
    }
    const id = randomUUID();
    const record: PlaybackRecord = {
      id,
      conferenceId,
      state: 'loading',
      media: [...req.media],
      createdAt: new Date().toISOString(),
    };
    if (req.loop !== undefined) record.loop = req.loop;
    let resolve: (r: PlaybackRecord) => void = () => undefined;
    const finished = new Promise<PlaybackRecord>((r) => {
      resolve = r;
    });
    let workerIndex = -1;
    try {
      workerIndex = target.workerOf?.(conferenceId) ?? -1;
    } catch {
      // an unknown conference: play() below says so
    }
    const entry: Entry = { record, workerIndex, finished, resolve };
    this.#entries.set(id, entry);
    const opts: { playbackId: string; loop?: number | boolean } = { playbackId: id };
    if (req.loop !== undefined) opts.loop = req.loop;
    try {
      await target.play(conferenceId, req.media, opts);
    } catch (err) {
      this.#entries.delete(id);
      if (err instanceof NotFoundError && err.code !== 'CONFERENCE_NOT_FOUND')
        throw new ValidationError(err.code, err.message);
      throw err;
    }
    if (entry.stopWanted === true && record.state !== 'finished')
      await target.stopPlay(conferenceId, id).catch(() => undefined);
    if (record.state === 'loading') record.state = 'playing';
    return entry;
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new NotFoundError('PLAYBACK_NOT_FOUND', `playback ${id} not found`);
    return entry;
  }

  get(id: string): PlaybackRecord {
    return { ...this.#entry(id).record };
  }

  list(): PlaybackRecord[] {
    return [...this.#entries.values()].map((e) => ({ ...e.record }));
  }

  /** Stops a playback (idempotent: a finished one is returned as it is). */
  async stop(id: string): Promise<PlaybackRecord> {
    const entry = this.#entry(id);
    if (entry.record.state !== 'finished') {
      if (entry.record.state === 'loading') entry.stopWanted = true;
      try {
        if (entry.record.conferenceId !== undefined) await this.#conferences?.stopPlay(entry.record.conferenceId, id);
        else
          await this.#host.request(this.#host.workerOf(entry.record.endpointId as string), 'playback.stop', {
            playbackId: id,
          });
      } catch (err) {
        // It finished (or its endpoint went) meanwhile: the finished event says how.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return { ...entry.record };
  }

  async pause(id: string): Promise<PlaybackRecord> {
    return this.#setPaused(id, true);
  }

  async resume(id: string): Promise<PlaybackRecord> {
    return this.#setPaused(id, false);
  }

  async #setPaused(id: string, paused: boolean): Promise<PlaybackRecord> {
    const entry = this.#entry(id);
    if (entry.record.state === 'finished')
      throw new InvalidStateError('PLAYBACK_FINISHED', `playback ${id} has finished`);
    if (entry.record.conferenceId !== undefined)
      throw new UnsupportedError('PAUSE_UNSUPPORTED', 'a conference playback cannot be paused; stop it instead');
    let info: { state?: PlaybackState };
    try {
      info = await this.#host.request(
        this.#host.workerOf(entry.record.endpointId as string),
        paused ? 'playback.pause' : 'playback.resume',
        { playbackId: id },
      );
    } catch (err) {
      if (err instanceof NotFoundError) throw new InvalidStateError('PLAYBACK_FINISHED', `playback ${id} has finished`);
      throw err;
    }
    // the finished event may have come while we waited
    if ((entry.record.state as PlaybackState) !== 'finished' && info.state !== undefined && info.state !== 'finished')
      entry.record.state = info.state;
    return { ...entry.record };
  }

  /** Resolves with the record once the playback has finished. */
  async finished(id: string, signal?: AbortSignal): Promise<PlaybackRecord> {
    const entry = this.#entry(id);
    if (signal === undefined) return entry.finished;
    signal.throwIfAborted();
    return new Promise<PlaybackRecord>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      entry.finished.then((r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      }, reject);
    });
  }

  /**
   * Plays `media` on an endpoint and resolves when it ends: `{reason: 'done'}`, `'barge_in'` with
   * the digit, `'stopped'` (replaced, endpoint closed, or `signal` aborted: then the playback is
   * stopped and this resolves without waiting for the worker), `'error'`.
   */
  async play(endpointId: string, media: string[], opts: EndpointPlayOptions = {}): Promise<EndpointPlayResult> {
    const { signal, ...rest } = opts;
    if (signal?.aborted) return { reason: 'stopped' };
    const entry = await this.#begin({ ...rest, endpointId, media });
    const result = (r: PlaybackRecord): EndpointPlayResult => {
      const out: EndpointPlayResult = { reason: r.reason ?? 'stopped' };
      if (r.digit !== undefined) out.digit = r.digit;
      return out;
    };
    if (signal === undefined) return result(await entry.finished);
    if (signal.aborted) {
      this.stop(entry.record.id).catch(() => undefined);
      return { reason: 'stopped' };
    }
    return new Promise<EndpointPlayResult>((resolve) => {
      const onAbort = (): void => {
        this.stop(entry.record.id).catch(() => undefined);
        resolve({ reason: 'stopped' });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void entry.finished.then((r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result(r));
      });
    });
  }

  /** Speaks `text` (TTS) on an endpoint; see play(). */
  async say(endpointId: string, text: string, opts: EndpointPlayOptions = {}): Promise<EndpointPlayResult> {
    return this.play(endpointId, [`tts:${text}`], opts);
  }

  /** Nothing to release: playbacks end with their endpoints and workers. */
  close(): void {}
}
