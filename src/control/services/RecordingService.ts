import { statfs, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  InvalidStateError,
  NotFoundError,
  StorageError,
  UnsupportedError,
  ValidationError,
} from '../../common/errors.ts';
import { fsError, openNoFollow, resolveWritablePath } from '../../common/safePath.ts';
import type { Config } from '../../config/config.ts';
import type {
  RecordingCause,
  RecordingFormat,
  RecordingNotifications,
  RecordingStartOptions,
  RecordingStartParams,
} from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import type { BridgeInfo } from '../types.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

export type { RecordingFormat };
export type RecordingState = 'starting' | 'recording' | 'paused' | 'stopping' | 'finished' | 'failed';
/** Why a recording ended (worker causes; 'shutdown' when the server stopped; 'error' on failure). */
export type RecordingEndCause = RecordingCause;

/** What the service needs from the MediaServer (an interface, so tests can stand in). */
export interface RecordingHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  readonly config: Pick<Config, 'recordingsDir'>;
  workerOf(endpointId: string): number;
  hasEndpoint(id: string): boolean;
  getBridge(id: string): BridgeInfo;
}

export interface StartRecordingOptions {
  endpointId?: string;
  bridgeId?: string;
  conferenceId?: string;
  format: RecordingFormat;
  /** 'mono' (both directions / legs mixed, default) or 'stereo' (see RecordingInfo.channels). */
  channels?: 'mono' | 'stereo';
  maxDurationMs?: number;
  maxSilenceMs?: number;
  terminateOn?: string;
  beep?: boolean;
  ifExists?: 'fail' | 'overwrite' | 'append';
  /**
   * File name under the recordings directory (sub-folders allowed, e.g. `voicemail/42/msg1`);
   * the format's extension is added when missing. Default `<id>.<ext>`.
   */
  name?: string;
  /** mp3/opus: encode on the media thread instead of the encoder threads (tests, tiny loads). */
  encoder?: 'thread' | 'inline';
}

/** Where conferences live (ConferenceService): a conference recording runs on its worker. */
export interface RecordingConferences {
  /** The conference's media worker; NotFoundError when there is no such conference. */
  workerOf(conferenceId: string): number;
}

/** A recording as the API shows it (snake_case, the wire contract). */
export interface RecordingInfo {
  id: string;
  state: RecordingState;
  path: string;
  format: RecordingFormat;
  /** mono: mixed; stereo: endpoint left = received, right = sent; bridge left = leg A, right = leg B. */
  channels: 'mono' | 'stereo';
  endpoint_id: string | null;
  bridge_id: string | null;
  conference_id?: string;
  created_at: string;
  sample_rate?: number;
  duration_ms?: number;
  bytes?: number;
  cause?: RecordingEndCause;
  digit?: string;
  error?: string;
}

/** What DELETE /recordings/:id answers: the finalised file. */
export interface RecordingResultInfo {
  id: string;
  path: string;
  format: RecordingFormat;
  duration_ms: number;
  bytes: number;
  cause: RecordingEndCause;
}

/**
 * Options of `record()` for flows, in the REST body's names (what MediaFlowEngines passes);
 * 0 or '' disables an option. A type alias (not an interface) so that callers holding a plain
 * `Record<string, unknown>` may pass it; start() checks the values.
 */
export type RecordCallOptions = {
  format: RecordingFormat;
  /** File name under the recordings directory (as POST /recordings `name`); overwritten if present. */
  name?: string;
  max_duration_ms?: number;
  max_silence_ms?: number;
  terminate_on?: string;
  beep?: boolean;
  channels?: 'mono' | 'stereo';
};

export interface RecordCallResult {
  path: string;
  durationMs: number;
  cause: 'terminator' | 'silence' | 'max_duration' | 'hangup' | 'stopped';
  digit?: string;
}

interface RecordingRecord {
  info: RecordingInfo;
  /** The name's lexical path, held in #busyPaths while it records. */
  claim: string;
  /** The media worker running it. */
  worker: number;
  /** Settles when the worker has answered recording.start (either way). */
  started: Promise<void>;
  finished: Promise<RecordingInfo>;
  resolveFinished: (info: RecordingInfo) => void;
}

interface WorkerOutcome {
  recordingId: string;
  path: string;
  format: RecordingFormat;
  durationMs: number;
  bytes: number;
  cause: RecordingEndCause;
  digit?: string;
  error?: string;
}

const EXT: Record<RecordingFormat, string> = { wav: 'wav', mp3: 'mp3', opus: 'opus' };
export const RECORDING_CONTENT_TYPES: Record<RecordingFormat, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
};
/** One path segment of a `name`: no dot files, no `..`, nothing a shell or URL would mangle. */
const SAFE_SEGMENT = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,127}$/;
/** Free space a new recording needs (about 4 s of 8 kHz WAV): less answers 507 at once. */
const MIN_FREE_BYTES = 64 * 1024;
/** Finished recordings kept for GET and download; older ones are forgotten (files stay). */
const KEEP_FINISHED = 1000;

/**
 * Recordings on the control plane: ids, file placement under `recordingsDir`, routing to the
 * worker that owns the endpoint, and the state each recording is in, kept from the worker's
 * `recording.started/finished` notifications. One per MediaServer (`server.recordings`), shared
 * by the REST and gRPC APIs and the flows.
 */
export class RecordingService {
  readonly #host: RecordingHost;
  readonly #root: string;
  readonly #records = new Map<string, RecordingRecord>();
  /** Paths of recordings in progress: two recordings never write one file. */
  readonly #busyPaths = new Set<string>();
  #serial = 0;
  readonly #conferences: RecordingConferences | null;

  /** `conferences`: where conference recordings are placed; without it they are refused. */
  constructor(host: RecordingHost, conferences: RecordingConferences | null = null) {
    this.#host = host;
    this.#conferences = conferences;
    this.#root = path.resolve(host.config.recordingsDir);
  }

  /** Starts a recording; resolves once the worker has opened the file and taps the audio. */
  async start(o: StartRecordingOptions): Promise<RecordingInfo> {
    const targets = [o.endpointId, o.bridgeId, o.conferenceId].filter((x) => x !== undefined);
    if (targets.length !== 1)
      throw new ValidationError('VALIDATION_ERROR', 'give exactly one of endpoint_id, bridge_id or conference_id');
    if (o.conferenceId !== undefined && this.#conferences === null) {
      throw new UnsupportedError('UNSUPPORTED', 'conference recording needs the conference service');
    }
    if (o.conferenceId !== undefined && o.channels === 'stereo') {
      throw new UnsupportedError('UNSUPPORTED_CHANNELS', 'a conference recording is mono: the full mix');
    }
    if (!(o.format in EXT)) throw new ValidationError('VALIDATION_ERROR', 'format must be wav, mp3 or opus');
    if (o.terminateOn !== undefined && !/^[0-9A-D*#]*$/i.test(o.terminateOn)) {
      throw new ValidationError('VALIDATION_ERROR', 'terminate_on may only hold DTMF keys 0-9, *, #, A-D');
    }

    let worker: number;
    let target: Pick<RecordingStartParams, 'endpointId' | 'bridge' | 'conferenceId'>;
    let bridge: BridgeInfo | null = null;
    if (o.conferenceId !== undefined) {
      worker = this.#conferences!.workerOf(o.conferenceId);
      target = { conferenceId: o.conferenceId };
    } else if (o.bridgeId !== undefined) {
      bridge = this.#host.getBridge(o.bridgeId);
      if (bridge.cross_worker) {
        throw new InvalidStateError(
          'BRIDGE_CROSS_WORKER',
          `bridge ${bridge.id} spans two media workers; a bridge recording needs both legs on one (create them with the same affinity)`,
        );
      }
      worker = this.#host.workerOf(bridge.endpoint_a);
      target = { bridge: { id: bridge.id, a: bridge.endpoint_a, b: bridge.endpoint_b } };
    } else {
      const endpointId = o.endpointId!;
      if (!this.#host.hasEndpoint(endpointId))
        throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
      worker = this.#host.workerOf(endpointId);
      target = { endpointId };
    }

    const id = this.#newId();
    const claim = this.resolvePath(o.name ?? id, o.format);
    if (this.#busyPaths.has(claim))
      throw new InvalidStateError(
        'RECORDING_PATH_BUSY',
        `another recording is writing ${path.relative(this.#root, claim)}`,
      );
    // Claimed before the first await: a concurrent start with the same name must see it busy.
    this.#busyPaths.add(claim);
    let file: string;
    try {
      // Real path, each folder resolved on its own: a link out of the directory is refused.
      file = await resolveWritablePath(this.#root, path.relative(this.#root, claim).split(path.sep).join('/'));
      const free = await statfs(path.dirname(file));
      if (free.bavail * free.bsize < MIN_FREE_BYTES) {
        throw new StorageError(
          'INSUFFICIENT_STORAGE',
          `the recordings directory has ${free.bavail * free.bsize} bytes free; a recording needs at least ${MIN_FREE_BYTES}`,
        );
      }
    } catch (err) {
      this.#busyPaths.delete(claim);
      throw err;
    }

    let resolveFinished!: (info: RecordingInfo) => void;
    let markStarted!: () => void;
    const finished = new Promise<RecordingInfo>((r) => {
      resolveFinished = r;
    });
    const channels = o.channels ?? 'mono';
    const record: RecordingRecord = {
      info: {
        id,
        state: 'starting',
        path: file,
        format: o.format,
        channels,
        endpoint_id: bridge ? bridge.endpoint_a : (o.endpointId ?? null),
        bridge_id: bridge ? bridge.id : null,
        ...(o.conferenceId !== undefined ? { conference_id: o.conferenceId } : {}),
        created_at: new Date().toISOString(),
      },
      claim,
      worker,
      started: new Promise<void>((r) => {
        markStarted = r;
      }),
      finished,
      resolveFinished,
    };
    // Registered before the request: the worker's finished notification may come first.
    this.#records.set(id, record);
    const options: RecordingStartOptions = {};
    if (o.maxDurationMs !== undefined) options.maxDurationMs = o.maxDurationMs;
    if (o.maxSilenceMs !== undefined) options.maxSilenceMs = o.maxSilenceMs;
    if (o.terminateOn !== undefined) options.terminateOn = o.terminateOn;
    if (o.beep !== undefined) options.beep = o.beep;
    if (o.ifExists !== undefined) options.ifExists = o.ifExists;
    if (o.encoder !== undefined) options.encoder = o.encoder;
    try {
      const started = await this.#host.request(worker, 'recording.start', {
        recordingId: id,
        ...target,
        format: o.format,
        path: file,
        channels,
        options,
      });
      if (record.info.state === 'starting') record.info.state = 'recording';
      record.info.sample_rate = started.sampleRate;
    } catch (err) {
      this.#records.delete(id);
      this.#busyPaths.delete(claim);
      throw err;
    } finally {
      markStarted();
    }
    return { ...record.info };
  }

  get(id: string): RecordingInfo {
    return { ...this.#record(id).info };
  }

  /** get() plus, while it runs, the audio recorded so far (`duration_ms`) from its worker. */
  async status(id: string): Promise<RecordingInfo> {
    const record = this.#record(id);
    const s = record.info.state;
    if (s !== 'recording' && s !== 'paused') return { ...record.info };
    try {
      const live = await this.#host.request(record.worker, 'recording.get', { recordingId: id });
      return { ...record.info, duration_ms: live.elapsedMs };
    } catch {
      return { ...record.info };
    }
  }

  list(): RecordingInfo[] {
    return [...this.#records.values()].map((r) => ({ ...r.info }));
  }

  /**
   * Stops a recording and resolves with the finalised file. A recording that already ended
   * answers with its result.
   */
  async stop(id: string): Promise<RecordingResultInfo> {
    const record = this.#record(id);
    if (record.info.state === 'starting') {
      // Listed before the worker opened it: stop it once it runs (or report that it never did).
      await record.started;
      if (this.#records.get(id) !== record)
        throw new NotFoundError('RECORDING_NOT_FOUND', `recording ${id} failed to start`);
    }
    if (record.info.state === 'recording' || record.info.state === 'paused') {
      record.info.state = 'stopping';
      try {
        await this.#host.request(record.worker, 'recording.stop', { recordingId: id });
      } catch (err) {
        // Ended on its own (or its endpoint went) just now: the finished event has the result.
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    const info = await record.finished;
    return {
      id,
      path: info.path,
      format: info.format,
      duration_ms: info.duration_ms ?? 0,
      bytes: info.bytes ?? 0,
      cause: info.cause ?? 'stopped',
    };
  }

  async pause(id: string): Promise<RecordingInfo> {
    return this.#setPaused(id, true);
  }

  async resume(id: string): Promise<RecordingInfo> {
    return this.#setPaused(id, false);
  }

  /** Resolves when the recording has ended (any cause), with its final info. */
  finished(id: string): Promise<RecordingInfo> {
    return this.#record(id).finished;
  }

  /**
   * The file of a recording, opened for download (a WAV in progress is playable as it grows).
   * Opened without following links: a file swapped for a symlink since is refused. The caller
   * owns `file` and must close it.
   */
  async media(
    id: string,
  ): Promise<{ path: string; file: FileHandle; format: RecordingFormat; contentType: string; bytes: number }> {
    if (!this.#records.has(id)) return this.#mediaFromDirectory(id);
    const info = this.#record(id).info;
    if (info.state === 'starting') throw new InvalidStateError('RECORDING_NOT_READY', `recording ${id} is starting`);
    let file: FileHandle;
    try {
      file = await openNoFollow(info.path, 'read');
    } catch (err) {
      const e = fsError(err, path.basename(info.path));
      if (e instanceof ValidationError) throw e;
      throw new NotFoundError('RECORDING_FILE_NOT_FOUND', `the file of recording ${id} is gone`);
    }
    try {
      const bytes = (await file.stat()).size;
      return { path: info.path, file, format: info.format, contentType: RECORDING_CONTENT_TYPES[info.format], bytes };
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Records the caller for a flow: settles with the finalised file on every ending. An aborted
   * signal stops the recording and resolves with cause 'stopped' (nothing is lost); a failed
   * recording rejects.
   */
  async record(endpointId: string, o: RecordCallOptions, signal: AbortSignal): Promise<RecordCallResult> {
    signal.throwIfAborted();
    const info = await this.start({
      endpointId,
      format: o.format,
      ...(o.name !== undefined && o.name !== '' ? { name: o.name, ifExists: 'overwrite' as const } : {}),
      ...(o.max_duration_ms !== undefined && o.max_duration_ms > 0 ? { maxDurationMs: o.max_duration_ms } : {}),
      ...(o.max_silence_ms !== undefined && o.max_silence_ms > 0 ? { maxSilenceMs: o.max_silence_ms } : {}),
      ...(o.terminate_on !== undefined && o.terminate_on !== '' ? { terminateOn: o.terminate_on } : {}),
      ...(o.beep !== undefined ? { beep: o.beep } : {}),
      ...(o.channels !== undefined ? { channels: o.channels } : {}),
    });
    const onAbort = (): void => {
      void this.stop(info.id).catch(() => undefined);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      const done = await this.finished(info.id);
      if (done.cause === 'error') throw new Error(`recording ${info.id} failed: ${done.error ?? 'unknown error'}`);
      const cause =
        done.cause === 'dtmf'
          ? 'terminator'
          : done.cause === 'shutdown' || done.cause === undefined
            ? 'hangup'
            : done.cause;
      return {
        path: done.path,
        durationMs: done.duration_ms ?? 0,
        cause,
        ...(done.digit !== undefined ? { digit: done.digit } : {}),
      };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Absolute path for `name` under the recordings directory, with the format's extension.
   * Refuses traversal (`..`), absolute names, hidden files and odd characters.
   */
  resolvePath(name: string, format: RecordingFormat): string {
    const segments = name.split('/');
    if (
      name.length > 512 ||
      segments.length > 8 ||
      !segments.every((s) => SAFE_SEGMENT.test(s) && s !== '.' && s !== '..' && !s.includes('..'))
    ) {
      throw new ValidationError(
        'INVALID_NAME',
        `recording name ${JSON.stringify(name)} is not a safe relative file name (letters, digits, . _ + -, sub-folders with /, no ..)`,
      );
    }
    const ext = `.${EXT[format]}`;
    const file = path.resolve(this.#root, name.toLowerCase().endsWith(ext) ? name : `${name}${ext}`);
    if (!file.startsWith(this.#root + path.sep))
      throw new ValidationError(
        'INVALID_NAME',
        `recording name ${JSON.stringify(name)} leaves the recordings directory`,
      );
    return file;
  }

  /** Nothing to release: recordings end with their endpoints or workers. */
  close(): void {}

  async #setPaused(id: string, paused: boolean): Promise<RecordingInfo> {
    const record = this.#record(id);
    const s = record.info.state;
    if (s !== 'recording' && s !== 'paused')
      throw new InvalidStateError('RECORDING_NOT_ACTIVE', `recording ${id} is ${s}`);
    await this.#host.request(record.worker, paused ? 'recording.pause' : 'recording.resume', { recordingId: id });
    if (record.info.state === 'recording' || record.info.state === 'paused')
      record.info.state = paused ? 'paused' : 'recording';
    return { ...record.info };
  }

  /**
   * A finalised recording this process does not know (made by another instance of a cluster, or
   * before a restart) whose file lies in the shared recordings directory under its default name
   * `<id>.<ext>`: served from there. A named recording (`name`) is found through its owner only.
   */
  async #mediaFromDirectory(
    id: string,
  ): Promise<{ path: string; file: FileHandle; format: RecordingFormat; contentType: string; bytes: number }> {
    if (/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
      for (const format of Object.keys(EXT) as RecordingFormat[]) {
        const file = path.join(this.#root, `${id}.${EXT[format]}`);
        let handle: FileHandle;
        try {
          handle = await openNoFollow(file, 'read');
        } catch {
          continue;
        }
        try {
          const bytes = (await handle.stat()).size;
          return { path: file, file: handle, format, contentType: RECORDING_CONTENT_TYPES[format], bytes };
        } catch (err) {
          await handle.close().catch(() => undefined);
          throw err;
        }
      }
    }
    throw new NotFoundError('RECORDING_NOT_FOUND', `recording ${id} not found`);
  }

  #record(id: string): RecordingRecord {
    const r = this.#records.get(id);
    if (r === undefined) throw new NotFoundError('RECORDING_NOT_FOUND', `recording ${id} not found`);
    return r;
  }

  #newId(): string {
    // time-ordered and unique within the process, safe as a file name
    return `rec-${Date.now().toString(36)}-${(++this.#serial).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }

  /** The engine's `recording.started`: published as is (the start request's answer updates the state). */
  onStarted(n: RecordingNotifications['recording.started']): void {
    this.#host.events.publish('recording.started', wire.recordingStarted(n));
  }

  /** The engine's `recording.finished`: the record ends with the finalised file, then the event goes out. */
  onFinished(n: RecordingNotifications['recording.finished']): void {
    const record = this.#records.get(n.recordingId);
    if (record !== undefined) {
      this.#finish(record, {
        recordingId: record.info.id,
        path: n.path,
        format: record.info.format,
        durationMs: n.durationMs,
        bytes: n.bytes,
        cause: n.cause,
        ...(n.digit !== undefined ? { digit: n.digit } : {}),
        ...(n.error !== undefined ? { error: n.error } : {}),
      });
    }
    this.#host.events.publish('recording.finished', wire.recordingFinished(n));
  }

  /** A bridge was deleted: a recording of it ends (the conversation it recorded is over). */
  bridgeClosed(bridgeId: string): void {
    for (const record of this.#records.values()) {
      if (record.info.bridge_id === bridgeId && (record.info.state === 'recording' || record.info.state === 'paused')) {
        record.info.state = 'stopping';
        void this.#host
          .request(record.worker, 'recording.stop', { recordingId: record.info.id, cause: 'hangup' })
          .catch(() => undefined);
      }
    }
  }

  /** The worker died: its recordings end without a notification; the WAV on disk stays playable up to the last flush. */
  workerDied(workerIndex: number): void {
    for (const record of this.#records.values()) {
      if (record.worker === workerIndex && !isEnded(record.info.state)) {
        this.#finish(record, {
          recordingId: record.info.id,
          path: record.info.path,
          format: record.info.format,
          durationMs: 0,
          bytes: 0,
          cause: 'error',
          error: 'media worker died',
        });
      }
    }
  }

  #finish(record: RecordingRecord, o: WorkerOutcome): void {
    if (isEnded(record.info.state)) return;
    const info = record.info;
    info.state = o.cause === 'error' ? 'failed' : 'finished';
    info.duration_ms = o.durationMs;
    info.bytes = o.bytes;
    info.cause = o.cause;
    if (o.digit !== undefined) info.digit = o.digit;
    if (o.error !== undefined) info.error = o.error;
    this.#busyPaths.delete(record.claim);
    record.resolveFinished({ ...info });
    this.#forgetOld();
  }

  #forgetOld(): void {
    if (this.#records.size <= KEEP_FINISHED) return;
    for (const [id, r] of this.#records) {
      if (this.#records.size <= KEEP_FINISHED) break;
      if (isEnded(r.info.state)) this.#records.delete(id);
    }
  }
}

function isEnded(s: RecordingState): boolean {
  return s === 'finished' || s === 'failed';
}
