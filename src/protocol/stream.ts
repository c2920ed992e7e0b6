/**
 * `stream.*`: media streams, an endpoint's audio to and from an external application (a voice
 * bot) over a WebSocket the media worker opens (Twilio Media Streams message set, or a binary L16
 * mode). The socket lives in the worker so that audio never crosses threads per frame.
 */

export type StreamTracks = 'inbound' | 'outbound' | 'both';
export type StreamEncoding = 'pcmu' | 'l16';
export type StreamMode = 'twilio' | 'binary';
export type StreamErrorCode = 'CONNECT_FAILED' | 'CONNECTION_LOST' | 'BAD_MESSAGE';
export type StreamState = 'connecting' | 'streaming' | 'reconnecting' | 'stopped';
/**
 * Why a stream stopped: `stopped` (DELETE, or the flow step left), `hangup` (its endpoint or
 * bridge went), `bot_closed` (the bot closed the socket), `result` (the bot sent its final
 * `result` message), `error` (could not connect, or lost the bot past the reconnect policy),
 * `shutdown`, `worker_died`, `conference_ended` (the conference it streams ended).
 */
export type StreamStopReason =
  | 'stopped'
  | 'hangup'
  | 'bot_closed'
  | 'result'
  | 'error'
  | 'shutdown'
  | 'worker_died'
  | 'conference_ended';

export interface StreamReconnectPolicy {
  /** Attempts after the first connection failed or dropped abnormally; 0: none. */
  maxAttempts: number;
  /** Delay before the first attempt, doubled each time (capped at 10 s). */
  delayMs: number;
}

/** `stream.start` parameters (the control plane's StreamService builds them). */
export interface StreamStartParams {
  streamId: string;
  /** The endpoint whose audio is streamed (for a bridge: leg A, the caller); absent for a conference. */
  endpointId?: string;
  /**
   * A conference instead of an endpoint: the bot joins it as a virtual participant (hears the
   * mix of everyone, and when bidirectional is heard by everyone but itself).
   */
  conferenceId?: string;
  /** For a bridge: leg B, whose received audio is the `outbound` track. */
  peerEndpointId?: string;
  url: string;
  tracks: StreamTracks;
  encoding: StreamEncoding;
  sampleRate: 8000 | 16000 | 24000;
  /** Audio from the bot is played to the endpoint. */
  bidirectional: boolean;
  mode: StreamMode;
  /** Sent to the bot in `start.customParameters` (Twilio) or the metadata message (binary). */
  customParameters: Record<string, string>;
  /** Extra handshake headers (Authorization from a token included). */
  headers: Record<string, string>;
  connectTimeoutMs: number;
  reconnect: StreamReconnectPolicy;
  /** Bound of the queue of bot audio waiting to be played, in ms. */
  maxQueueMs: number;
  /** Bytes the socket may hold unsent before caller audio is dropped (a slow bot). */
  maxBufferedBytes: number;
  /** `start.callSid` and `start.accountSid` as the bot sees them. */
  callSid: string;
  accountSid: string;
}

/** Counters of one stream (GET /streams/:id). */
export interface StreamStats {
  /** Media messages (or binary frames) sent to the bot, and audio frames not sent because its socket was backed up. */
  framesSent: number;
  framesDropped: number;
  /** Media messages (or binary frames) received from the bot. */
  framesReceived: number;
  /** Ms of bot audio played to the endpoint, and samples of it dropped because the queue was full. */
  playedMs: number;
  queueOverruns: number;
  overrunSamples: number;
  /** Samples of bot audio dropped to stay on time when the worker's clock skipped ticks (overload). */
  clockSkippedSamples: number;
  /** Ms of bot audio queued now. */
  queuedMs: number;
  marksReceived: number;
  marksAcknowledged: number;
  clears: number;
  dtmfSent: number;
  /** Connections made (1 + reconnections) and failed attempts. */
  connects: number;
  connectFailures: number;
  /** Messages from the bot we could not understand (bad JSON, unknown event). */
  badMessages: number;
}

export interface StreamInfo {
  streamId: string;
  endpointId?: string;
  conferenceId?: string;
  state: StreamState;
  stats: StreamStats;
  reason?: StreamStopReason;
}

export interface StreamRequests {
  /** Answers at once (state `connecting`); `stream.started` follows when the bot is connected. */
  'stream.start': { params: StreamStartParams; result: StreamInfo };
  /** Sends `stop` to the bot and closes; `stream.stopped {reason: stopped}` follows. */
  'stream.stop': { params: { streamId: string; reason?: 'stopped' | 'hangup' }; result: StreamInfo };
  'stream.get': { params: { streamId: string }; result: StreamInfo };
}

/** A stream's subject on the wire: its endpoint, or its conference. */
export type StreamSubject = { endpointId?: string; conferenceId?: string };

export type StreamStarted = StreamSubject & { streamId: string; url: string; mode: StreamMode };

export type StreamStopped = StreamSubject & {
  streamId: string;
  reason: StreamStopReason;
  stats: StreamStats;
  /** The `result` object of the bot's final message. */
  result?: Record<string, unknown>;
};

export type StreamErrorNote = StreamSubject & {
  streamId: string;
  /** CONNECT_FAILED, CONNECTION_LOST (each failed attempt reports one), BAD_MESSAGE (first one only). */
  code: StreamErrorCode;
  message: string;
  /** Whether a reconnect follows. */
  willRetry: boolean;
};

export interface StreamNotifications {
  'stream.started': StreamStarted;
  'stream.stopped': StreamStopped;
  'stream.error': StreamErrorNote;
}
