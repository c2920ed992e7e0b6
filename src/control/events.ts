/**
 * The public event catalogue: every event the server emits on its bus (WebSocket /events, gRPC
 * Events, webhooks) and its wire payload. This is the one place where wire (snake_case) names
 * are chosen for what the media workers report; the owners of each engine emit through it.
 * Field order is part of the wire form (JSON), so each mapping writes its fields in order.
 * Published as JSON Schema under schemas/events/.
 */
import type {
  ConferenceNotifications,
  Direction,
  DtmfPressed,
  EndpointNotifications,
  PlaybackFinished,
  TalkNotifications,
  PlaybackStarted,
  RecordingNotifications,
  StreamErrorNote,
  StreamStarted,
  StreamStopped,
} from '../protocol/index.ts';
import type { FlowEvents } from '../flows/events.ts';
import type { AmdCause, AmdStatus } from '../common/AmdDecision.ts';

type RecordingSubjectWire = { endpoint_id?: string; bridge_id?: string; conference_id?: string };
type PlaybackTargetWire = { endpoint_id: string } | { conference_id: string };
/** A stream's subject: its endpoint (and the bridge when it streams one), or its conference. */
type StreamSubjectWire = { stream_id: string; endpoint_id?: string; bridge_id?: string; conference_id?: string };

/** The control plane's events: type -> payload (without the bus's `seq`, `type` and `time`). */
export interface ControlEvents {
  'endpoint.created': { endpoint_id: string; worker: number; rtp_port: number; state: 'offered' | 'active' | 'closed' };
  'endpoint.updated': { endpoint_id: string; state: 'offered' | 'active' | 'closed'; direction: Direction };
  /** `instance_lost`: a cluster member stopped heartbeating; the leader reports its endpoints (src/cluster/Failover.ts). */
  'endpoint.deleted': { endpoint_id: string; reason: 'deleted' | 'worker_died' | 'shutdown' | 'instance_lost' };
  'endpoint.media_timeout': { endpoint_id: string; last_packet_ago_ms: number };
  'endpoint.remote_latched': { endpoint_id: string; ip: string; port: number; kind: 'rtp' | 'rtcp' };
  'endpoint.rtcp_bye': { endpoint_id: string; ssrc: number; reason: string | null };
  'endpoint.dtmf': { endpoint_id: string; digit: string; source: 'rfc4733' | 'inband'; duration_ms: number };
  /**
   * Answering-machine detection ended (POST /endpoints/:id/amd, the flow step `amd`): `result`
   * is Asterisk's AMDSTATUS (`human`, `machine`, `notsure`), or `hangup` (the endpoint went first)
   * or `cancelled`; `cause` AMDCAUSE's keyword, `detail` AMDCAUSE with its figures.
   */
  'endpoint.amd': {
    endpoint_id: string;
    id: string;
    result: AmdStatus | 'hangup' | 'cancelled';
    cause: AmdCause | 'HANGUP' | 'CANCELLED';
    detail: string | null;
    analysed_ms: number;
    voice_ms: number;
    words: number;
  };
  /** The outcome of a DTMF send answered 202 (POST /endpoints/:id/dtmf). */
  'dtmf.sent': { id: string; endpoint_id: string; digits: string; method: 'rfc4733' | 'inband' };
  'dtmf.failed': { id: string; endpoint_id: string; digits: string; code: string; message: string };
  /** The caller started talking on an endpoint whose talk detection is on (POST /endpoints/:id/talk-detect). */
  'endpoint.talking_started': { endpoint_id: string };
  /** ... and stopped: `duration_ms` from the onset to the end of the last loud frame (the closing silence left out). */
  'endpoint.talking_stopped': { endpoint_id: string; duration_ms: number };
  'bridge.created': { bridge_id: string; endpoint_a: string; endpoint_b: string; mode: 'relay' | 'transcode' };
  'bridge.deleted': { bridge_id: string; reason: 'deleted' | 'endpoint_deleted' | 'worker_died'; endpoint_id?: string };
  'worker.died': { worker: number; code: number; error: string | null };
  'worker.started': { worker: number };
  /** Drain began: no new calls; `endpoints` still in progress. */
  'server.draining': { endpoints: number };
  'playback.started': { playback_id: string } & PlaybackTargetWire;
  'playback.finished': { playback_id: string } & PlaybackTargetWire & {
      reason: 'done' | 'stopped' | 'barge_in' | 'error';
      played_ms: number;
      digit?: string;
      error?: string;
    };
  'recording.started': {
    recording_id: string;
    path: string;
    format: 'wav' | 'mp3' | 'opus';
    sample_rate: number;
    channels: 1 | 2;
  } & RecordingSubjectWire;
  'recording.finished': {
    recording_id: string;
    path: string;
    format: 'wav' | 'mp3' | 'opus';
    duration_ms: number;
    bytes: number;
    dropped_frames: number;
    cause: RecordingNotifications['recording.finished']['cause'];
    digit?: string;
    error?: string;
  } & RecordingSubjectWire;
  'conference.created': { conference_id: string; worker: number; sample_rate: number };
  'conference.participant.joined': {
    conference_id: string;
    endpoint_id: string;
    moderator: boolean;
    muted: boolean;
    deaf: boolean;
    state: 'active' | 'waiting' | 'held';
  };
  'conference.participant.left': {
    conference_id: string;
    endpoint_id: string;
    reason: 'left' | 'kicked' | 'hangup' | 'ended';
  };
  'conference.participant.updated': {
    conference_id: string;
    endpoint_id: string;
    muted: boolean;
    deaf: boolean;
    hold: boolean;
    moderator: boolean;
    state: 'active' | 'waiting' | 'held';
  };
  'conference.talking.started': { conference_id: string; endpoint_id: string };
  'conference.talking.stopped': { conference_id: string; endpoint_id: string };
  'conference.ended': { conference_id: string; reason: 'deleted' | 'moderator_left' | 'shutdown' | 'worker_died' };
  /**
   * Cluster only: a member stopped heartbeating. The envelope's `instance` names it; the leader
   * (`reported_by`) reported its `endpoints` (endpoint.deleted) and `flow_sessions` (flow.failed)
   * just before, and released its `affinities`.
   */
  'instance.lost': {
    endpoints: string[];
    flow_sessions: string[];
    affinities: string[];
    reported_by: string;
    last_heartbeat_at: string;
  };
  /** The bot is connected and has had `connected` and `start` (or the binary metadata message). */
  'stream.started': StreamSubjectWire & { url: string; mode: 'twilio' | 'binary' };
  'stream.stopped': StreamSubjectWire & {
    reason: 'stopped' | 'hangup' | 'bot_closed' | 'result' | 'error' | 'shutdown' | 'worker_died' | 'conference_ended';
    frames_sent: number;
    frames_dropped: number;
    frames_received: number;
    queue_overruns: number;
    /** The `result` object of the bot's final `{"event":"result"}` message. */
    result?: Record<string, unknown>;
  };
  /** A failed connection attempt (CONNECT_FAILED, CONNECTION_LOST) or the first bad message from the bot (BAD_MESSAGE). */
  'stream.error': StreamSubjectWire & {
    code: 'CONNECT_FAILED' | 'CONNECTION_LOST' | 'BAD_MESSAGE';
    message: string;
    will_retry: boolean;
  };
}

/** Every public event: the control plane's and the flows' own (flows/events.ts), merged. */
export interface ServerEvents extends ControlEvents, FlowEvents {}

export type ServerEventType = keyof ServerEvents;

/**
 * The envelope's names: no payload may use them (EventBus writes seq, type and time last, over the
 * payload; a cluster reader adds `instance`, src/cluster/streamEntry.ts).
 */
type Reserved = 'seq' | 'type' | 'time' | 'instance';
/** The envelope names some payload uses (never, as it must be). */
type ReservedInPayloads = { [K in ServerEventType]: Extract<keyof ServerEvents[K], Reserved> }[ServerEventType];
/** Compile-time check, on EVENT_TYPES below: a payload field named like an envelope field fails it. */
type NoReservedNames = [ReservedInPayloads] extends [never] ? unknown : { 'a payload uses seq, type or time': never };

/**
 * Every event type, at run time (the schemas test compares it with schemas/events/); an object
 * so that the compiler insists on every key of the catalogue.
 */
const EVENT_TYPES: { [K in ServerEventType]: true } & NoReservedNames = {
  'endpoint.created': true,
  'endpoint.updated': true,
  'endpoint.deleted': true,
  'endpoint.media_timeout': true,
  'endpoint.remote_latched': true,
  'endpoint.rtcp_bye': true,
  'endpoint.dtmf': true,
  'endpoint.amd': true,
  'dtmf.sent': true,
  'dtmf.failed': true,
  'endpoint.talking_started': true,
  'endpoint.talking_stopped': true,
  'bridge.created': true,
  'bridge.deleted': true,
  'worker.died': true,
  'worker.started': true,
  'server.draining': true,
  'playback.started': true,
  'playback.finished': true,
  'recording.started': true,
  'recording.finished': true,
  'conference.created': true,
  'conference.participant.joined': true,
  'conference.participant.left': true,
  'conference.participant.updated': true,
  'conference.talking.started': true,
  'conference.talking.stopped': true,
  'conference.ended': true,
  'instance.lost': true,
  'stream.started': true,
  'stream.stopped': true,
  'stream.error': true,
  'flow.loaded': true,
  'flow.invalid': true,
  'flow.removed': true,
  'flow.started': true,
  'flow.step': true,
  'flow.completed': true,
  'flow.failed': true,
};
export const SERVER_EVENT_TYPES = Object.keys(EVENT_TYPES) as ServerEventType[];

/** Optional fields are written only when present (no `undefined` on the wire). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function subject(o: { endpointId?: string; bridgeId?: string; conferenceId?: string }): RecordingSubjectWire {
  return {
    ...opt('endpoint_id', o.endpointId),
    ...opt('bridge_id', o.bridgeId),
    ...opt('conference_id', o.conferenceId),
  };
}

function target(o: { endpointId?: string; conferenceId?: string }): PlaybackTargetWire {
  return o.endpointId !== undefined ? { endpoint_id: o.endpointId } : { conference_id: o.conferenceId as string };
}

type EN = EndpointNotifications;
type CN = ConferenceNotifications;

/** Worker notification -> public event payload, one mapping per event. */
export const wire = {
  mediaTimeout: (n: EN['endpoint.media_timeout']): ServerEvents['endpoint.media_timeout'] => ({
    endpoint_id: n.id,
    last_packet_ago_ms: n.lastPacketAgoMs,
  }),
  remoteLatched: (n: EN['endpoint.remote_latched']): ServerEvents['endpoint.remote_latched'] => ({
    endpoint_id: n.id,
    ip: n.ip,
    port: n.port,
    kind: n.kind,
  }),
  rtcpBye: (n: EN['endpoint.rtcp_bye']): ServerEvents['endpoint.rtcp_bye'] => ({
    endpoint_id: n.id,
    ssrc: n.ssrc,
    reason: n.reason,
  }),
  talkingStarted: (n: TalkNotifications['talk.started']): ServerEvents['endpoint.talking_started'] => ({
    endpoint_id: n.endpointId,
  }),
  talkingStopped: (n: TalkNotifications['talk.stopped']): ServerEvents['endpoint.talking_stopped'] => ({
    endpoint_id: n.endpointId,
    duration_ms: n.durationMs,
  }),
  dtmf: (n: DtmfPressed): ServerEvents['endpoint.dtmf'] => ({
    endpoint_id: n.endpointId,
    digit: n.digit,
    source: n.source,
    duration_ms: n.durationMs,
  }),
  playbackStarted: (n: PlaybackStarted): ServerEvents['playback.started'] => ({
    playback_id: n.playbackId,
    ...target(n),
  }),
  playbackFinished: (n: PlaybackFinished): ServerEvents['playback.finished'] => ({
    playback_id: n.playbackId,
    ...target(n),
    reason: n.reason,
    played_ms: n.playedMs,
    ...opt('digit', n.digit),
    ...opt('error', n.error),
  }),
  recordingStarted: (n: RecordingNotifications['recording.started']): ServerEvents['recording.started'] => ({
    recording_id: n.recordingId,
    path: n.path,
    format: n.format,
    sample_rate: n.sampleRate,
    channels: n.channels,
    ...subject(n),
  }),
  recordingFinished: (n: RecordingNotifications['recording.finished']): ServerEvents['recording.finished'] => ({
    recording_id: n.recordingId,
    path: n.path,
    format: n.format,
    duration_ms: n.durationMs,
    bytes: n.bytes,
    dropped_frames: n.droppedFrames,
    cause: n.cause,
    ...opt('digit', n.digit),
    ...opt('error', n.error),
    ...subject(n),
  }),
  conferenceCreated: (n: CN['conference.created']): ServerEvents['conference.created'] => ({
    conference_id: n.conferenceId,
    worker: n.worker,
    sample_rate: n.sampleRate,
  }),
  participantJoined: (n: CN['conference.participant.joined']): ServerEvents['conference.participant.joined'] => ({
    conference_id: n.conferenceId,
    endpoint_id: n.endpointId,
    moderator: n.moderator,
    muted: n.muted,
    deaf: n.deaf,
    state: n.state,
  }),
  participantLeft: (n: CN['conference.participant.left']): ServerEvents['conference.participant.left'] => ({
    conference_id: n.conferenceId,
    endpoint_id: n.endpointId,
    reason: n.reason,
  }),
  participantUpdated: (n: CN['conference.participant.updated']): ServerEvents['conference.participant.updated'] => ({
    conference_id: n.conferenceId,
    endpoint_id: n.endpointId,
    muted: n.muted,
    deaf: n.deaf,
    hold: n.hold,
    moderator: n.moderator,
    state: n.state,
  }),
  talking: (n: CN['conference.talking.started']): ServerEvents['conference.talking.started'] => ({
    conference_id: n.conferenceId,
    endpoint_id: n.endpointId,
  }),
  conferenceEnded: (n: CN['conference.ended']): ServerEvents['conference.ended'] => ({
    conference_id: n.conferenceId,
    reason: n.reason,
  }),
  /** `url` is the stream's URL without credentials or query (where a token could be). */
  streamStarted: (n: StreamStarted, bridgeId: string | undefined, url: string): ServerEvents['stream.started'] => ({
    stream_id: n.streamId,
    ...opt('endpoint_id', n.endpointId),
    ...opt('bridge_id', bridgeId),
    ...opt('conference_id', n.conferenceId),
    url,
    mode: n.mode,
  }),
  streamStopped: (n: StreamStopped, bridgeId: string | undefined): ServerEvents['stream.stopped'] => ({
    stream_id: n.streamId,
    ...opt('endpoint_id', n.endpointId),
    ...opt('bridge_id', bridgeId),
    ...opt('conference_id', n.conferenceId),
    reason: n.reason,
    frames_sent: n.stats.framesSent,
    frames_dropped: n.stats.framesDropped,
    frames_received: n.stats.framesReceived,
    queue_overruns: n.stats.queueOverruns,
    ...opt('result', n.result),
  }),
  streamError: (n: StreamErrorNote, bridgeId: string | undefined): ServerEvents['stream.error'] => ({
    stream_id: n.streamId,
    ...opt('endpoint_id', n.endpointId),
    ...opt('bridge_id', bridgeId),
    ...opt('conference_id', n.conferenceId),
    code: n.code,
    message: n.message,
    will_retry: n.willRetry,
  }),
};
