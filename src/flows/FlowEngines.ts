/**
 * What the flow runtime needs from the media server. The control plane implements this over its
 * handles (endpoints, playback, recordings, conferences, bridges); tests and `flows test` use
 * FakeEngines (src/flows/testing/). Everything is a plain async function taking an endpoint id
 * plus an AbortSignal, and two event subscriptions; nothing here knows about XState.
 *
 * Media items are the strings of the playback API: `prompt:NAME`, `tts:TEXT`, `tone:440`,
 * `tone:440:500` (Hz, ms), `silence:500`, `digits:123`, a file path or an http(s) URL.
 */

import type { AmdParameters } from '../common/amdParameters.ts';
import { DestinationPolicy } from '../common/net/DestinationPolicy.ts';
import { guardedRequest, readBodyCapped } from '../common/net/guardedRequest.ts';

/** Why a playback (or TTS) ended. */
export type PlayEndReason = 'finished' | 'dtmf' | 'speech' | 'stopped' | 'hangup';

export interface PlayResult {
  reason: PlayEndReason;
  /** The digit that stopped a barge-in playback. Informational: flows take digits from onDtmf. */
  digit?: string;
}

export interface PlayOptions {
  /** Stop on the first DTMF digit (the engine should, for latency; the flow stops it anyway). */
  bargeIn: boolean;
  /** Stop when the caller starts talking (resolve with reason 'speech'). */
  bargeInSpeech?: boolean;
  /** Aborted when the flow leaves the step or the call ends: stop playing, settle promptly. */
  signal: AbortSignal;
}

export interface SayOptions extends PlayOptions {
  voice?: string;
}

export interface RecordOptions {
  /** File name wanted by the flow, or undefined to let the engine choose (under recordings/). */
  path?: string;
  format: 'wav' | 'mp3' | 'opus';
  maxDurationMs: number;
  /** Stop after this much continuous silence; 0 disables. */
  silenceTimeoutMs: number;
  /** DTMF keys that stop the recording (not recorded). */
  terminators: string;
  /** Play a short beep before recording starts. */
  beep: boolean;
}

export interface RecognizeOptions {
  /** ws:// or wss:// recogniser; default the server's. */
  url?: string;
  language?: string;
  hints?: string[];
  /** No talk within this time (from the start) is a no_input; talk going on at the start counts. */
  noInputMs: number;
  /** Talk longer than this is cut and recognised as it is. */
  maxSpeechMs: number;
}

/** One utterance: its transcript, or nothing said (no_input), or nothing recognised (no_match). */
export interface RecognizeResult {
  status: 'recognized' | 'no_input' | 'no_match';
  transcript: string;
  /** 0..1 as the recogniser reports it (0 when it gives none). */
  confidence: number;
}

export type RecordCause = 'terminator' | 'silence' | 'max_duration' | 'hangup' | 'stopped';

export interface RecordResult {
  path: string;
  /** Length of the audio kept; when cause is 'silence' the trailing silence is trimmed. */
  durationMs: number;
  cause: RecordCause;
  /** The terminator key pressed, when cause is 'terminator'. */
  digit?: string;
}

export interface ConferenceOptions {
  muted?: boolean;
  deaf?: boolean;
  moderator?: boolean;
  endOnExit?: boolean;
  [key: string]: unknown;
}

/**
 * The outcome of answering-machine detection (the `amd` step): Asterisk's AMDSTATUS lower-cased
 * and AMDCAUSE (keyword, and `detail` with its figures as Asterisk writes it).
 */
export interface AmdResult {
  result: 'human' | 'machine' | 'notsure';
  cause: string;
  detail: string | null;
  analysedMs: number;
  voiceMs: number;
  words: number;
}

/** How a conference membership or a bridge ended. */
export interface LeaveResult {
  reason: 'left' | 'ended' | 'kicked' | 'peer_hangup' | 'hangup' | 'stopped';
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the `stream` step asks for: the call handed to a bot (media streams, README "Voice bots"). */
export interface StreamStepOptions {
  url: string;
  /** Sent to the bot as `start.customParameters`. */
  parameters: Record<string, string>;
  tracks?: 'inbound' | 'outbound' | 'both';
  encoding?: 'pcmu' | 'l16';
  sampleRate?: 8000 | 16000 | 24000;
  mode?: 'twilio' | 'binary';
  bidirectional?: boolean;
  token?: string;
  headers?: Record<string, string>;
  connectTimeoutMs?: number;
  maxQueueMs?: number;
  reconnectAttempts?: number;
  reconnectDelayMs?: number;
}

/**
 * How a `stream` step ended: the bot closed the socket (`bot_closed`) or sent its final
 * `{"event":"result","result":{...}}` (`result`, with the object), the call hung up, the step was
 * left (`stopped`). A bot that could not be reached rejects instead (the step's on_error).
 */
export interface StreamStepResult {
  reason: string;
  result?: Record<string, unknown>;
}

/** Injectable HTTP client for the `http` step (tests answer from scripts, production uses fetch). */
export type HttpFetcher = (req: HttpRequest) => Promise<HttpResponse>;

/** XState-compatible clock (setTimeout/clearTimeout) plus `now()` for histories. */
export interface FlowClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface FlowEngines {
  /**
   * Plays media items in order on the endpoint. Resolves when done, stopped by barge-in, or
   * stopped by `signal` (then promptly, with reason 'stopped'). Rejects on a bad item or endpoint.
   */
  play(endpointId: string, items: readonly string[], opts: PlayOptions): Promise<PlayResult>;
  /** Speaks text (TTS); same contract as play. */
  say(endpointId: string, text: string, opts: SayOptions): Promise<PlayResult>;
  /**
   * Records the caller. Must settle with the finalised file on every ending, including hangup
   * (cause 'hangup') and an aborted signal (cause 'stopped'): a recording is never lost.
   */
  record(endpointId: string, opts: RecordOptions, signal: AbortSignal): Promise<RecordResult>;
  /** Joins a named conference room; resolves when the participant leaves or the room ends. */
  joinConference(endpointId: string, room: string, opts: ConferenceOptions, signal: AbortSignal): Promise<LeaveResult>;
  /** Bridges the endpoint with another; resolves when the bridge ends (abort unbridges). */
  bridge(
    endpointId: string,
    targetEndpointId: string,
    opts: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<LeaveResult>;
  /**
   * Answering-machine detection on the caller's audio with Asterisk's AMD() parameters (those
   * left out take its defaults). Resolves with the decision; when the endpoint goes away first it
   * does not settle (the flow's hangup handling leaves the step and aborts it). Optional: an
   * engine set without it fails the `amd` step.
   */
  amd?(endpointId: string, parameters: Partial<AmdParameters>, signal: AbortSignal): Promise<AmdResult>;
  /**
   * Recognises one utterance of the caller (streaming: endpointing by talk detection). Resolves
   * with recognized / no_input / no_match; rejects when the recogniser fails. Aborting `signal`
   * stops it (a DTMF digit won). Optional: flows with `input: speech` need it.
   */
  recognize?(endpointId: string, opts: RecognizeOptions, signal: AbortSignal): Promise<RecognizeResult>;
  /**
   * Hands the call to a bot over a media stream; resolves when the stream ends (see
   * StreamStepResult), promptly with reason 'stopped' when `signal` aborts. DTMF and hang-up reach
   * the bot from the media worker. Optional: without it a `stream` step fails.
   */
  stream?(endpointId: string, opts: StreamStepOptions, signal: AbortSignal): Promise<StreamStepResult>;
  /** Ends the call leg (the b2bua is told through the flow outcome). */
  hangup(endpointId: string, cause: string): Promise<void>;
  /** DTMF digits received on the endpoint ('0'-'9', '*', '#', 'A'-'D'); returns unsubscribe. */
  onDtmf(endpointId: string, cb: (digit: string) => void): () => void;
  /** The endpoint went away (deleted by the b2bua, media timeout); returns unsubscribe. */
  onHangup(endpointId: string, cb: (cause: string) => void): () => void;
  /** Optional check used when a session is started over the API. */
  endpointExists?(endpointId: string): boolean;
  /** HTTP client for `http` steps; defaults to global fetch. */
  http?: HttpFetcher;
  /** Clock for timers (collect timeouts, wait, http backoff); defaults to the system clock. */
  clock?: FlowClock;
}

/** System clock. */
export const systemClock: FlowClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Largest `http` step answer read, bytes: the body becomes a flow variable. */
export const MAX_HTTP_STEP_BODY_BYTES = 1024 * 1024;

/**
 * HttpFetcher that only reaches destinations `policy` allows, at every redirect hop, and reads at
 * most `maxBytes` of the answer. A refused or unreachable destination rejects with one text.
 */
export function guardedFetcher(policy: DestinationPolicy, maxBytes = MAX_HTTP_STEP_BODY_BYTES): HttpFetcher {
  return async (req) => {
    const res = await guardedRequest(req.url, {
      policy,
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: req.signal,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const body = await readBodyCapped(res, maxBytes);
    if (body === null) throw new Error(`answer larger than ${maxBytes} bytes`);
    return { status: res.status, headers, body: body.toString('utf8') };
  };
}

let defaultFetcher: HttpFetcher | null = null;

/**
 * The `http` step's default client: loopback and this host allowed (flows call the application
 * beside them), link-local, metadata, multicast and the like refused (FLOW_HTTP_ALLOW/DENY set it
 * for the server).
 */
export const fetchHttp: HttpFetcher = (req) =>
  (defaultFetcher ??= guardedFetcher(new DestinationPolicy({ allowLocal: true })))(req);
