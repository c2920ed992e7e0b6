/**
 * The contract between the control plane (main thread) and a media worker: every request
 * (params -> result) and every notification that crosses the thread boundary, by area.
 * Types only; imported by both planes, which import nothing of each other.
 *
 * Requests carry an id and get exactly one response; notifications flow worker -> control.
 * Only plain data crosses (structured clone), plus SharedArrayBuffers (the rings and doorbells
 * of cross-worker bridges) and the prep pool's MessagePort.
 */
import type { SerializedError } from '../common/errors.ts';
import type { AmdNotifications, AmdRequests } from './amd.ts';
import type { BridgeNotifications, BridgeRequests } from './bridge.ts';
import type { ConferenceNotifications, ConferenceRequests } from './conference.ts';
import type { DtmfNotifications, DtmfRequests } from './dtmf.ts';
import type { EndpointNotifications, EndpointRequests } from './endpoint.ts';
import type { PlaybackNotifications, PlaybackRequests } from './playback.ts';
import type { RecordingNotifications, RecordingRequests } from './recording.ts';
import type { SpeechNotifications, SpeechRequests } from './speech.ts';
import type { TalkNotifications, TalkRequests } from './talk.ts';
import type { StreamNotifications, StreamRequests } from './stream.ts';
import type { WorkerAdminNotifications, WorkerAdminRequests } from './worker.ts';

export type * from './amd.ts';
export type * from './bridge.ts';
export type * from './codecs.ts';
export type * from './conference.ts';
export type * from './dtmf.ts';
export type * from './endpoint.ts';
export type * from './playback.ts';
export type * from './prep.ts';
export type * from './recording.ts';
export type * from './speech.ts';
export type * from './talk.ts';
export type * from './stream.ts';
export type * from './worker.ts';

/** Every request a media worker answers. */
export interface WorkerRequests
  extends EndpointRequests,
    BridgeRequests,
    WorkerAdminRequests,
    PlaybackRequests,
    RecordingRequests,
    ConferenceRequests,
    DtmfRequests,
    AmdRequests,
    TalkRequests,
    SpeechRequests,
    StreamRequests {}

export type WorkerMethod = keyof WorkerRequests;
export type ParamsOf<M extends WorkerMethod> = WorkerRequests[M]['params'];
export type ResultOf<M extends WorkerMethod> = WorkerRequests[M]['result'];

/**
 * Every notification a media worker sends. Payloads are object types (not interfaces), so any
 * of them is a plain `Record<string, unknown>` too.
 */
export interface WorkerNotifications
  extends EndpointNotifications,
    BridgeNotifications,
    WorkerAdminNotifications,
    PlaybackNotifications,
    RecordingNotifications,
    ConferenceNotifications,
    DtmfNotifications,
    AmdNotifications,
    TalkNotifications,
    SpeechNotifications,
    StreamNotifications {}

export type NotificationType = keyof WorkerNotifications;

/** The implementation of a slice: one handler per method, typed by it. */
export type Handlers<S extends { [M in keyof S]: { params: unknown; result: unknown } }> = {
  [M in keyof S]: (params: S[M]['params']) => S[M]['result'] | Promise<S[M]['result']>;
};

/** Sends one notification, typed by its name. */
export type Notify = <T extends NotificationType>(type: T, payload: WorkerNotifications[T]) => void;

export type ToWorker = { t: 'req'; id: number; method: WorkerMethod; params: unknown } | { t: 'close' };

export type FromWorker =
  | { t: 'res'; id: number; ok: true; result: unknown }
  | { t: 'res'; id: number; ok: false; error: SerializedError }
  | { t: 'note'; type: NotificationType; payload: unknown }
  | { t: 'ready'; index: number };
