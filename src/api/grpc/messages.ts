/**
 * The messages of schemas/grpc/media_server.proto as plain objects (proto-loader with keepCase:
 * snake_case fields, uint64 as numbers, unset optional fields absent), and their conversion to
 * and from the control plane's REST-shaped values. Requests become the REST body they stand for,
 * so the same JSON Schema checks them (RequestValidator).
 */
import type {
  AddParticipantRequest,
  ConferenceInfo,
  CreateConferenceRequest,
  ParticipantChanges,
  ParticipantInfo,
} from '../../control/services/ConferenceService.ts';
import { AMD_CONF_NAMES } from '../../common/amdParameters.ts';
import type { AmdDetection } from '../../control/services/AmdService.ts';
import type { PlaybackRecord, StartPlaybackRequest } from '../../control/services/PlaybackService.ts';
import type { RecordingInfo, StartRecordingOptions } from '../../control/services/RecordingService.ts';
import type { EndpointInfo } from '../../control/types.ts';
import { conferenceBody as conferenceWire, participantBody as participantWire } from '../conferenceWire.ts';

/** A request as decoded: with `defaults: false`, fields the client left unset are absent. */
type Decoded<T> = { [K in keyof T]?: T[K] | null };

export type RefRequest = Decoded<{ id: string }>;

export type CreateEndpointMessage = Decoded<{
  remote_sdp: string;
  codecs: string[];
  affinity: string;
  direction: string;
  dtmf_inband: string;
}>;

export type UpdateEndpointMessage = Decoded<{ id: string; remote_sdp: string; direction: string; dtmf_inband: string }>;

export type CreateBridgeMessage = Decoded<{ endpoint_a: string; endpoint_b: string }>;

export type StartPlaybackMessage = Decoded<{
  endpoint_id: string;
  conference_id: string;
  media: string[];
  loop_forever: boolean;
  loop_count: number;
  barge_in_any: boolean;
  barge_in_digits: string;
  voice: string;
  lang: string;
  rate: number;
  engine: string;
  digits_mode: string;
  digit_duration_ms: number;
  barge_in_speech: boolean;
}>;

export type SetTalkDetectMessage = Decoded<{
  endpoint_id: string;
  threshold_dbfs: number;
  silence_threshold_dbfs: number;
  min_talk_ms: number;
  silence_ms: number;
}>;

export type StartStreamMessage = Decoded<{
  endpoint_id: string;
  bridge_id: string;
  conference_id: string;
  url: string;
  tracks: string;
  encoding: string;
  sample_rate: number;
  bidirectional: boolean;
  mode: string;
  metadata: Record<string, string>;
  headers: Record<string, string>;
  token: string;
  connect_timeout_ms: number;
  reconnect: { max_attempts?: number | null; delay_ms?: number | null };
  max_queue_ms: number;
  call_sid: string;
}>;

/** A StartStreamRequest as the POST /streams body it stands for (empty maps read as unset). */
export function streamRequestBody(m: StartStreamMessage): Record<string, unknown> {
  const body = present(m, [
    'endpoint_id',
    'bridge_id',
    'conference_id',
    'tracks',
    'encoding',
    'sample_rate',
    'bidirectional',
    'mode',
    'token',
    'connect_timeout_ms',
    'max_queue_ms',
    'call_sid',
  ]);
  body.url = text(m.url);
  if (m.metadata && Object.keys(m.metadata).length > 0) body.metadata = m.metadata;
  if (m.headers && Object.keys(m.headers).length > 0) body.headers = m.headers;
  if (m.reconnect) body.reconnect = present(m.reconnect, ['max_attempts', 'delay_ms']);
  return body;
}

/** The Stream message from the REST reply shape: the result object travels as JSON text. */
export function streamMessage(rest: Record<string, unknown>): Record<string, unknown> {
  const { result, ...out } = rest;
  if (result !== undefined) out.result_json = JSON.stringify(result);
  return out;
}

export type StartRecordingMessage = Decoded<{
  endpoint_id: string;
  bridge_id: string;
  conference_id: string;
  format: string;
  channels: string;
  max_duration_ms: number;
  max_silence_ms: number;
  terminate_on: string;
  beep: boolean;
  if_exists: string;
  name: string;
}>;

export type SendDtmfMessage = Decoded<{ endpoint_id: string; digits: string; duration_ms: number }>;

export type StartAmdMessage = Decoded<{ endpoint_id: string }> & Record<string, unknown>;

export type AmdRefMessage = Decoded<{ id: string; endpoint_id: string }>;

export type StartFlowMessage = Decoded<{ endpoint_id: string; flow: string; variables_json: string }>;

export type EventsMessage = Decoded<{ since: number; types: string[] }>;

/** One `Event` of the Events stream. */
export interface EventMessage {
  seq: number;
  type: string;
  time: string;
  json: string;
}

/** Copies the fields that are set (neither absent nor null) under the same names. */
function present(from: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const v = from[name];
    if (v !== undefined && v !== null) out[name] = v;
  }
  return out;
}

/** proto3 cannot tell an empty repeated field from an unset one: empty means unset. */
function list(v: string[] | null | undefined): string[] | undefined {
  return v === undefined || v === null || v.length === 0 ? undefined : v;
}

/** A required string field: unset reads as '' (what the wire carries), which the schema refuses. */
export function text(v: string | null | undefined): string {
  return v ?? '';
}

export function createEndpointBody(m: CreateEndpointMessage): Record<string, unknown> {
  const body = present(m, ['remote_sdp', 'affinity', 'direction']);
  const codecs = list(m.codecs);
  if (codecs !== undefined) body.codecs = codecs;
  addDtmfInband(body, m.dtmf_inband);
  return body;
}

export function updateEndpointBody(m: UpdateEndpointMessage): Record<string, unknown> {
  const body = present(m, ['remote_sdp', 'direction']);
  addDtmfInband(body, m.dtmf_inband);
  return body;
}

/**
 * `dtmf_inband` "on" / "off" / "default" as the REST body's `dtmf.inband` true / false / null; any
 * other word goes through as it is, for the schema to refuse.
 */
function addDtmfInband(body: Record<string, unknown>, v: string | null | undefined): void {
  if (v === undefined || v === null) return;
  body.dtmf = { inband: v === 'on' ? true : v === 'off' ? false : v === 'default' ? null : v };
}

/** The REST body of POST /playback (CreatePlaybackRequest.json). */
export function playbackBody(m: StartPlaybackMessage): Record<string, unknown> {
  const body = present(m, [
    'endpoint_id',
    'conference_id',
    'voice',
    'lang',
    'rate',
    'engine',
    'digits_mode',
    'digit_duration_ms',
    'barge_in_speech',
  ]);
  body.media = m.media ?? [];
  // the oneofs: proto-loader sets only the member the client chose
  if (m.loop_forever !== undefined && m.loop_forever !== null) body.loop = m.loop_forever;
  else if (m.loop_count !== undefined && m.loop_count !== null) body.loop = m.loop_count;
  if (m.barge_in_any !== undefined && m.barge_in_any !== null) body.barge_in = m.barge_in_any;
  else if (m.barge_in_digits !== undefined && m.barge_in_digits !== null) body.barge_in = m.barge_in_digits;
  return body;
}

/** A checked POST /playback body as the PlaybackService takes it. */
export function startPlaybackRequest(b: Record<string, unknown>): StartPlaybackRequest {
  const req: StartPlaybackRequest = { media: b.media as string[] };
  if (b.endpoint_id !== undefined) req.endpointId = b.endpoint_id as string;
  if (b.conference_id !== undefined) req.conferenceId = b.conference_id as string;
  if (b.loop !== undefined) req.loop = b.loop as number | boolean;
  if (b.barge_in !== undefined) req.bargeIn = b.barge_in as boolean | string;
  if (b.barge_in_speech !== undefined) req.bargeInSpeech = b.barge_in_speech as boolean;
  if (b.voice !== undefined) req.voice = b.voice as string;
  if (b.lang !== undefined) req.lang = b.lang as string;
  if (b.rate !== undefined) req.rate = b.rate as number;
  if (b.engine !== undefined) req.engine = b.engine as string;
  if (b.digits_mode !== undefined) req.digitsMode = b.digits_mode as 'speak' | 'dtmf';
  if (b.digit_duration_ms !== undefined) req.digitDurationMs = b.digit_duration_ms as number;
  return req;
}

/** The REST body of POST /recordings (CreateRecordingRequest.json). */
export function recordingBody(m: StartRecordingMessage): Record<string, unknown> {
  const body = present(m, [
    'endpoint_id',
    'bridge_id',
    'conference_id',
    'channels',
    'max_duration_ms',
    'max_silence_ms',
    'terminate_on',
    'beep',
    'if_exists',
    'name',
  ]);
  body.format = text(m.format);
  return body;
}

/** A checked POST /recordings body as the RecordingService takes it. */
export function startRecordingOptions(b: Record<string, unknown>): StartRecordingOptions {
  const o: StartRecordingOptions = { format: b.format as StartRecordingOptions['format'] };
  if (b.endpoint_id !== undefined) o.endpointId = b.endpoint_id as string;
  if (b.bridge_id !== undefined) o.bridgeId = b.bridge_id as string;
  if (b.conference_id !== undefined) o.conferenceId = b.conference_id as string;
  if (b.channels !== undefined) o.channels = b.channels as 'mono' | 'stereo';
  if (b.max_duration_ms !== undefined) o.maxDurationMs = b.max_duration_ms as number;
  if (b.max_silence_ms !== undefined) o.maxSilenceMs = b.max_silence_ms as number;
  if (b.terminate_on !== undefined) o.terminateOn = b.terminate_on as string;
  if (b.beep !== undefined) o.beep = b.beep as boolean;
  if (b.if_exists !== undefined) o.ifExists = b.if_exists as 'fail' | 'overwrite' | 'append';
  if (b.name !== undefined) o.name = b.name as string;
  return o;
}

/** Endpoint message: the REST shape with its nulls left unset (proto3 `optional`). */
export function endpointMessage(e: EndpointInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: e.id,
    state: e.state,
    ip: e.ip,
    rtp_port: e.rtp_port,
    rtcp_port: e.rtcp_port,
    rtcp_mux: e.rtcp_mux,
    sdp: e.sdp,
    direction: e.direction,
    worker: e.worker,
    created_at: e.created_at,
    stats: present(e.stats as unknown as Record<string, unknown>, [
      'packets_received',
      'packets_sent',
      'bytes_received',
      'bytes_sent',
      'packets_lost',
      'fraction_lost',
      'jitter_ms',
      'rtt_ms',
      'mos',
      'dropped',
    ]),
  };
  if (e.codec !== null) out.codec = e.codec;
  if (e.telephone_event !== null) out.telephone_event = e.telephone_event;
  if (e.remote !== null) out.remote = e.remote;
  if (e.affinity !== null) out.affinity = e.affinity;
  if (e.bridge_id !== null) out.bridge_id = e.bridge_id;
  return out;
}

export function playbackMessage(r: PlaybackRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { id: r.id, state: r.state, media: r.media, created_at: r.createdAt };
  if (r.endpointId !== undefined) out.endpoint_id = r.endpointId;
  if (r.conferenceId !== undefined) out.conference_id = r.conferenceId;
  if (typeof r.loop === 'boolean') out.loop_forever = r.loop;
  else if (typeof r.loop === 'number') out.loop_count = r.loop;
  if (typeof r.bargeIn === 'boolean') out.barge_in_any = r.bargeIn;
  else if (typeof r.bargeIn === 'string') out.barge_in_digits = r.bargeIn;
  if (r.bargeInSpeech !== undefined) out.barge_in_speech = r.bargeInSpeech;
  if (r.finishedAt !== undefined) out.finished_at = r.finishedAt;
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.digit !== undefined) out.digit = r.digit;
  if (r.error !== undefined) out.error = r.error;
  if (r.playedMs !== undefined) out.played_ms = Math.max(0, Math.round(r.playedMs));
  return out;
}

export function recordingMessage(r: RecordingInfo): Record<string, unknown> {
  return present(r as unknown as Record<string, unknown>, [
    'id',
    'state',
    'path',
    'format',
    'channels',
    'endpoint_id',
    'bridge_id',
    'conference_id',
    'created_at',
    'sample_rate',
    'duration_ms',
    'bytes',
    'cause',
    'digit',
    'error',
  ]);
}

export type CreateConferenceMessage = Decoded<{
  id: string;
  sample_rate: number;
  max_participants: number;
  loudest_talkers: number;
  entry_tone: boolean;
  exit_tone: boolean;
  wait_for_moderator: boolean;
  end_on_moderator_leave: boolean;
  hold_music: string;
}>;

export type ParticipantMessage = Decoded<{
  id: string;
  endpoint_id: string;
  muted: boolean;
  deaf: boolean;
  moderator: boolean;
  hold: boolean;
  gain_db: number;
  output_gain_db: number;
}>;

const CHANGE_FIELDS = ['muted', 'deaf', 'moderator', 'hold', 'gain_db', 'output_gain_db'] as const;

/** The REST body of POST /conferences (ConferenceCreateRequest.json). */
export function conferenceBody(m: CreateConferenceMessage): Record<string, unknown> {
  return present(m, [
    'id',
    'sample_rate',
    'max_participants',
    'loudest_talkers',
    'entry_tone',
    'exit_tone',
    'wait_for_moderator',
    'end_on_moderator_leave',
    'hold_music',
  ]);
}

export function createConferenceRequest(b: Record<string, unknown>): CreateConferenceRequest {
  const r: CreateConferenceRequest = {};
  if (b.id !== undefined) r.id = b.id as string;
  if (b.sample_rate !== undefined) r.sampleRate = b.sample_rate as CreateConferenceRequest['sampleRate'];
  if (b.max_participants !== undefined) r.maxParticipants = b.max_participants as number;
  if (b.loudest_talkers !== undefined) r.loudestTalkers = b.loudest_talkers as number;
  if (b.entry_tone !== undefined) r.entryTone = b.entry_tone as boolean;
  if (b.exit_tone !== undefined) r.exitTone = b.exit_tone as boolean;
  if (b.wait_for_moderator !== undefined) r.waitForModerator = b.wait_for_moderator as boolean;
  if (b.end_on_moderator_leave !== undefined) r.endOnModeratorLeave = b.end_on_moderator_leave as boolean;
  if (b.hold_music !== undefined) r.holdMusic = b.hold_music as string;
  return r;
}

/** The REST body of PATCH /conferences/:id/participants/:endpoint_id (ConferenceParticipantUpdate.json). */
export function participantChangesBody(m: ParticipantMessage): Record<string, unknown> {
  return present(m, CHANGE_FIELDS);
}

export function participantChanges(b: Record<string, unknown>): ParticipantChanges {
  const c: ParticipantChanges = {};
  if (b.muted !== undefined) c.muted = b.muted as boolean;
  if (b.deaf !== undefined) c.deaf = b.deaf as boolean;
  if (b.moderator !== undefined) c.moderator = b.moderator as boolean;
  if (b.hold !== undefined) c.hold = b.hold as boolean;
  if (b.gain_db !== undefined) c.gainDb = b.gain_db as number;
  if (b.output_gain_db !== undefined) c.outputGainDb = b.output_gain_db as number;
  return c;
}

export function addParticipantRequest(b: Record<string, unknown>): AddParticipantRequest {
  return { endpointId: b.endpoint_id as string, ...participantChanges(b) };
}

/** proto3 has no null message: a participant without a jitter buffer leaves the field out. */
export function participantMessage(p: ParticipantInfo): Record<string, unknown> {
  const out = participantWire(p);
  if (out.jitter_buffer === null) delete out.jitter_buffer;
  return out;
}

export function conferenceMessage(c: ConferenceInfo): Record<string, unknown> {
  return { ...conferenceWire(c), participants: c.participants.map(participantMessage) };
}

/** StartAmd's parameters that are set, under their amd.conf names (the REST body, AmdRequest). */
export function amdRequestBody(m: Record<string, unknown>): Record<string, unknown> {
  return present(m, Object.values(AMD_CONF_NAMES));
}

/** AmdDetection message: the REST shape with its nulls left unset (proto3 `optional`). */
export function amdMessage(d: AmdDetection): Record<string, unknown> {
  return {
    ...present(d as unknown as Record<string, unknown>, [
      'id',
      'endpoint_id',
      'state',
      'result',
      'cause',
      'detail',
      'analysed_ms',
      'voice_ms',
      'words',
    ]),
    parameters: d.parameters,
  };
}
