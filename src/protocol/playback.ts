/**
 * `playback.*`: prompts and TTS played to an endpoint. Playbacks into a conference are started
 * with `conference.play` and report through the same `playback.*` notifications (with
 * `conferenceId` instead of `endpointId`).
 */

export type PlaybackState = 'loading' | 'playing' | 'paused' | 'finished';
export type PlaybackFinishReason = 'done' | 'stopped' | 'barge_in' | 'error';

/** Options of the playlist's string items (TTS voice/lang/rate/engine, digits mode). */
export interface PlaybackItemOptions {
  voice?: string;
  lang?: string;
  /** TTS speed factor, 1 = normal, 0.25..4. */
  rate?: number;
  /** TTS engine name. */
  engine?: string;
  /** `digits:` items spoken (default) or sent as DTMF. */
  digitsMode?: 'speak' | 'dtmf';
  /** DTMF digit duration for `digits:` in dtmf mode (ms, 40..2000; default 100). */
  digitDurationMs?: number;
}

/** `playback.start` parameters (the control plane's PlaybackService builds them). */
export interface PlaybackStartParams {
  playbackId: string;
  endpointId: string;
  media: string[];
  /** Times the playlist is played; true: until stopped. */
  loop?: number | boolean;
  /** Stop on DTMF: true for any digit, or the digits that interrupt. */
  bargeIn?: boolean | string;
  /** Stop when the caller starts talking (the endpoint's talk detector; finishes 'barge_in' without a digit). */
  bargeInSpeech?: boolean;
  options?: PlaybackItemOptions;
}

export interface PlaybackInfo {
  playbackId: string;
  endpointId: string;
  state: PlaybackState;
  /** Index of the playlist entry being played, and completed passes over the playlist. */
  index: number;
  pass: number;
  playedMs: number;
  reason?: PlaybackFinishReason;
}

export interface PlaybackRequests {
  'playback.start': { params: PlaybackStartParams; result: PlaybackInfo };
  'playback.stop': { params: { playbackId: string }; result: PlaybackInfo };
  'playback.pause': { params: { playbackId: string }; result: PlaybackInfo };
  'playback.resume': { params: { playbackId: string }; result: PlaybackInfo };
  'playback.get': { params: { playbackId: string }; result: PlaybackInfo };
  'playback.list': { params: Record<string, never>; result: PlaybackInfo[] };
}

/** Where a playback plays: an endpoint, or the mix of a conference. */
export type PlaybackTarget =
  | { endpointId: string; conferenceId?: never }
  | { conferenceId: string; endpointId?: never };

export type PlaybackStarted = { playbackId: string } & PlaybackTarget;

export type PlaybackFinished = { playbackId: string } & PlaybackTarget & {
    reason: PlaybackFinishReason;
    playedMs: number;
    /** The digit of a barge-in. */
    digit?: string;
    error?: string;
  };

export interface PlaybackNotifications {
  'playback.started': PlaybackStarted;
  'playback.finished': PlaybackFinished;
}
