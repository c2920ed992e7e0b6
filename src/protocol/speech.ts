/**
 * `speech.*`: streaming recognition of what the caller says, through an external recogniser the
 * worker reaches over WebSocket, with the endpoint's talk detector for endpointing.
 */

/** How a recognition ended: a transcript, nothing said, said but not recognised, failed, stopped. */
export type SpeechStatus = 'recognized' | 'no_input' | 'no_match' | 'error' | 'stopped';

export interface SpeechStartParams {
  sessionId: string;
  endpointId: string;
  /** ws:// or wss:// URL of the recogniser (protocol in README, "Speech recognisers"). */
  url: string;
  language?: string;
  /** Words or phrases the recogniser should expect. */
  hints?: string[];
  /** No talk within this time (ms) from the start is a no_input. */
  noInputMs: number;
  /** The utterance is cut (stop sent) after this much talk (ms). */
  maxSpeechMs: number;
  /** Connect to the recogniser within this time (ms), or the recognition fails. */
  connectTimeoutMs?: number;
  /** After `stop`, the final result must come within this time (ms). */
  resultTimeoutMs?: number;
}

export type SpeechFinished = {
  sessionId: string;
  endpointId: string;
  status: SpeechStatus;
  transcript: string;
  confidence: number;
  /** Length of the utterance sent to the recogniser, ms. */
  speechMs: number;
  error?: string;
};

export interface SpeechRequests {
  /** Starts a recognition; it ends with `speech.finished`. */
  'speech.start': { params: SpeechStartParams; result: { sessionId: string } };
  /** Ends a recognition now (`speech.finished` with status stopped). */
  'speech.stop': { params: { sessionId: string }; result: { ok: true } };
}

export interface SpeechNotifications {
  'speech.finished': SpeechFinished;
}
