/** `talk.*`: talk detection on an endpoint's received audio (like Asterisk's TALK_DETECT). */

/** Thresholds of an endpoint's talk detector; what is left out takes the default. */
export interface TalkDetectOptions {
  /** A 20 ms frame at or above this level (dBFS) counts as talk (Asterisk's dsp_talking_threshold). */
  thresholdDbfs?: number;
  /** A frame below this level counts as silence; default 10 dB under thresholdDbfs. */
  silenceThresholdDbfs?: number;
  /** Talk must last this long before talking starts (ms). */
  minTalkMs?: number;
  /** Silence must last this long before talking stops (ms; Asterisk's dsp_silence_threshold). */
  silenceMs?: number;
}

export interface TalkDetectState {
  endpointId: string;
  /** Whether `talk.started/stopped` are reported for this endpoint. */
  enabled: boolean;
  talking: boolean;
  options: Required<TalkDetectOptions>;
}

export interface TalkRequests {
  /** Enables (options) or disables (null) the `talk.*` notifications of an endpoint. */
  'talk.configure': { params: { endpointId: string; options: TalkDetectOptions | null }; result: TalkDetectState };
  'talk.get': { params: { endpointId: string }; result: TalkDetectState };
}

export interface TalkNotifications {
  'talk.started': { endpointId: string };
  /** `durationMs`: from the onset of the talk to the end of its last loud frame (the closing silence left out). */
  'talk.stopped': { endpointId: string; durationMs: number };
}
