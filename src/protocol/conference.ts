/**
 * `conference.*`: a mix of endpoints on one media worker (every participant's endpoint lives on
 * the conference's worker). Playbacks into a conference report through `playback.*`.
 */

export type ConferenceSampleRate = 8000 | 16000 | 48000;

/** Options of a conference (all optional on create; the engine fills the defaults). */
export interface ConferenceSettings {
  sampleRate?: ConferenceSampleRate;
  /** 0: no limit. */
  maxParticipants?: number;
  /** Mix only the N loudest talkers; 0: everyone. */
  loudestTalkers?: number;
  entryTone?: boolean;
  exitTone?: boolean;
  /** Members hear music, and are not mixed, until a moderator is present. */
  waitForModerator?: boolean;
  /** The conference ends when its last moderator leaves. */
  endOnModeratorLeave?: boolean;
  /** Media item looped to members waiting or on hold (default prompt:hold-music). */
  holdMusic?: string;
}

export interface ParticipantChanges {
  muted?: boolean;
  deaf?: boolean;
  moderator?: boolean;
  hold?: boolean;
  gainDb?: number;
  outputGainDb?: number;
}

export type ParticipantState = 'active' | 'waiting' | 'held';

/** Why a participant left, as the media worker reports it. */
export type LeaveReason = 'left' | 'kicked' | 'hangup' | 'ended';

/** Why a conference ended ('worker_died' is the control plane's, when its worker is lost). */
export type ConferenceEndReason = 'deleted' | 'moderator_left' | 'shutdown' | 'worker_died';

export interface ParticipantInfo {
  endpointId: string;
  state: ParticipantState;
  muted: boolean;
  deaf: boolean;
  moderator: boolean;
  hold: boolean;
  talking: boolean;
  gainDb: number;
  outputGainDb: number;
  codec: string;
  joinedAt: string;
  jitterBuffer: {
    delayMs: number;
    late: number;
    lost: number;
    concealed: number;
    duplicates: number;
    discarded: number;
  } | null;
}

export interface ConferenceInfo {
  conferenceId: string;
  worker: number;
  sampleRate: number;
  maxParticipants: number;
  loudestTalkers: number;
  entryTone: boolean;
  exitTone: boolean;
  waitForModerator: boolean;
  endOnModeratorLeave: boolean;
  createdAt: string;
  participants: ParticipantInfo[];
  playbacks: string[];
}

/** Worker-wide conference statistics (benchmarks, diagnostics). */
export interface ConferenceStats {
  conferences: number;
  participants: number;
  mixes: number;
  mixCpuMs: number;
  tickLateP50Ms: number;
  tickLateP99Ms: number;
  tickLateMaxMs: number;
  jbReceived: number;
  jbLate: number;
  jbLost: number;
  jbConcealed: number;
}

type Of<T> = { conferenceId: string } & T;

export interface ConferenceRequests {
  'conference.create': { params: Of<ConferenceSettings>; result: ConferenceInfo };
  /** Ends the conference: every participant leaves with reason 'ended'. */
  'conference.destroy': { params: Of<object>; result: Record<string, never> };
  'conference.get': { params: Of<object>; result: ConferenceInfo };
  'conference.list': { params: Record<string, never>; result: ConferenceInfo[] };
  'conference.join': { params: Of<{ endpointId: string } & ParticipantChanges>; result: ParticipantInfo };
  'conference.update': { params: Of<{ endpointId: string } & ParticipantChanges>; result: ParticipantInfo };
  'conference.leave': { params: Of<{ endpointId: string; reason?: 'kicked' | 'left' }>; result: Record<string, never> };
  /** Mixes a playlist into the conference; it reports through `playback.started/finished`. */
  'conference.play': {
    params: Of<{ playbackId: string; media: string[]; loop?: number | boolean }>;
    result: { playbackId: string; conferenceId: string };
  };
  'conference.stopPlay': { params: Of<{ playbackId: string }>; result: Record<string, never> };
  'conference.stats': { params: { reset?: boolean }; result: ConferenceStats };
}

export interface ConferenceNotifications {
  'conference.created': { conferenceId: string; worker: number; sampleRate: number };
  'conference.participant.joined': {
    conferenceId: string;
    endpointId: string;
    moderator: boolean;
    muted: boolean;
    deaf: boolean;
    state: ParticipantState;
  };
  'conference.participant.left': { conferenceId: string; endpointId: string; reason: LeaveReason };
  'conference.participant.updated': {
    conferenceId: string;
    endpointId: string;
    muted: boolean;
    deaf: boolean;
    hold: boolean;
    moderator: boolean;
    state: ParticipantState;
  };
  'conference.talking.started': { conferenceId: string; endpointId: string };
  'conference.talking.stopped': { conferenceId: string; endpointId: string };
  'conference.ended': { conferenceId: string; reason: Exclude<ConferenceEndReason, 'worker_died'> };
}
