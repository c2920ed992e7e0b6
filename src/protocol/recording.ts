/** `recording.*`: an endpoint, a bridge's two legs or a conference's mix written to a file. */

export type RecordingFormat = 'wav' | 'mp3' | 'opus';
export type IfExists = 'fail' | 'overwrite' | 'append';

/** Why a recording ended: the recorder's causes, plus 'shutdown' when the worker stopped. */
export type RecordingCause = 'stopped' | 'max_duration' | 'silence' | 'dtmf' | 'hangup' | 'error' | 'shutdown';

export interface RecordingStartOptions {
  maxDurationMs?: number;
  maxSilenceMs?: number;
  silenceThresholdDbfs?: number;
  terminateOn?: string;
  beep?: boolean;
  ifExists?: IfExists;
  /** bit/s for mp3/opus. */
  bitrate?: number;
  /** mp3/opus: where encoding runs (tests use 'inline'); default the shared encoder threads. */
  encoder?: 'thread' | 'inline';
}

/** `recording.start` parameters (the control plane has validated and placed the path). */
export interface RecordingStartParams {
  recordingId: string;
  /** Record one endpoint: left = received, right = sent (stereo), or both mixed (mono). */
  endpointId?: string;
  /** Record a bridge: left = leg A received, right = leg B received. Both legs on this worker. */
  bridge?: { id?: string; a: string; b: string };
  /** Record a conference of this worker: its full mix, mono. */
  conferenceId?: string;
  format: RecordingFormat;
  /** Absolute path of the file. */
  path: string;
  channels?: 'mono' | 'stereo';
  options?: RecordingStartOptions;
}

export type RecordingStarted = {
  recordingId: string;
  path: string;
  format: RecordingFormat;
  sampleRate: number;
  channels: 1 | 2;
};

/** The finalised file of a recording. */
export type RecordingOutcome = {
  recordingId: string;
  path: string;
  format: RecordingFormat;
  durationMs: number;
  bytes: number;
  droppedFrames: number;
  cause: RecordingCause;
  /** The key that ended it, when cause is 'dtmf'. */
  digit?: string;
  error?: string;
};

/** What a recording records (first endpoint, bridge, conference), as its notifications name it. */
export type RecordingSubject = {
  endpointId?: string;
  bridgeId?: string;
  conferenceId?: string;
};

export type RecorderState = 'recording' | 'paused' | 'stopping' | 'stopped';

export interface RecordingRequests {
  'recording.start': { params: RecordingStartParams; result: RecordingStarted };
  /** `cause` 'hangup': the call it recorded is over (its bridge went). */
  'recording.stop': { params: { recordingId: string; cause?: 'stopped' | 'hangup' }; result: RecordingOutcome };
  'recording.pause': { params: { recordingId: string }; result: { recordingId: string; state: 'paused' } };
  'recording.resume': { params: { recordingId: string }; result: { recordingId: string; state: 'recording' } };
  'recording.get': {
    params: { recordingId: string };
    result: { recordingId: string; state: RecorderState; elapsedMs: number };
  };
}

export interface RecordingNotifications {
  'recording.started': RecordingStarted & RecordingSubject;
  'recording.finished': RecordingOutcome & RecordingSubject;
}
