import type { Handlers, Notify, WorkerSettings } from '../../protocol/index.ts';
import type { RtpEndpoint } from '../transport/RtpEndpoint.ts';
import type { EndpointAudio } from './EndpointAudio.ts';
import type { MediaClock } from './MediaClock.ts';
import type { EndpointTalk, TalkWatcher } from './talk/EndpointTalk.ts';

/** What a media engine (playback, recording, DTMF, conference) may use inside its worker. */
export interface WorkerContext {
  readonly workerIndex: number;
  readonly clock: MediaClock;
  /** Paths and limits the control plane passed at worker start (prompts dir, recordings dir...). */
  readonly settings: Readonly<WorkerSettings>;
  /** The endpoint, or NotFoundError('ENDPOINT_NOT_FOUND'). */
  endpoint(id: string): RtpEndpoint;
  /** The endpoint's PCM side, created on first use. */
  audio(id: string): EndpointAudio;
  /** Sends a notification to the control plane, which hands it to the engine's owner there. */
  notify: Notify;
  /**
   * A DTMF digit was detected on an endpoint (the DTMF engine calls this once per key press,
   * whatever its source): every listener registered with onDigit() hears it (playback barge-in,
   * recording terminate_on...).
   */
  emitDigit(endpointId: string, digit: string): void;
  /** Registers a digit listener; returns a function that removes it. */
  onDigit(listener: (endpointId: string, digit: string) => void): () => void;
  /**
   * Declares a consumer of `endpointId`'s digits (a barge-in playback, a recording with
   * terminate_on), so in-band detection runs there while it lasts (DTMF_INBAND=auto listens only
   * on demand); returns its release (idempotent). NotFoundError when the endpoint is unknown.
   */
  wantDigits(endpointId: string): () => void;
  /**
   * Sends DTMF on an endpoint through the DTMF engine (RFC 4733 events when the peer negotiated
   * telephone-event, else in-band tones); resolves when sent.
   */
  sendDtmf?(endpointId: string, digits: string, durationMs?: number): Promise<void>;
  /**
   * Watches the caller's talk on an endpoint through the talk engine's one detector per endpoint
   * (playback barge-in on speech, speech recognition); `off()` stops watching.
   */
  watchTalk?(endpointId: string, watcher: TalkWatcher): { talk: EndpointTalk; off: () => void };
}

/**
 * One engine of a media worker, implementing one slice of the protocol (src/protocol/): a
 * handler per request method of `Slice`. MediaWorker merges the engines' tables into its one
 * dispatch table (engines/registry.ts lists the engines).
 */
export interface MediaEngine<Slice extends { [M in keyof Slice]: { params: unknown; result: unknown } }> {
  readonly handlers: Handlers<Slice>;
  /** The endpoint got (re)negotiated media: engines that attach to every endpoint (DTMF) do it here. */
  onEndpointConfigured?(endpointId: string): void;
  /** The endpoint joined or left a bridge of this worker (the DTMF engine's converting bridges). */
  onBridgeChanged?(endpointId: string): void;
  /** The endpoint is closing: stop what uses it (stop players, finalise recordings). */
  onEndpointClosed?(endpointId: string): void;
  /** Resolves once what the engine warms at start-up (encoder threads) is ready. */
  warmUp?(): Promise<void>;
  /** Resolves once what a first call would otherwise wait for is warm (encoder threads). */
  warmUp?(): Promise<void>;
  /** Worker metrics contribution, merged into worker.metrics as `engines.<prefix>`. */
  metrics?(): Record<string, number>;
  /** Worker shutdown: finish what must not be lost (recordings), then release everything. */
  close(): Promise<void> | void;
}

/** Calls the handler of `method` in `handlers` (the engines' `handle()`, for direct callers and tests). */
export function dispatch<S extends { [M in keyof S]: { params: unknown; result: unknown } }, M extends keyof S>(
  handlers: Handlers<S>,
  method: M,
  params: S[M]['params'],
): S[M]['result'] | Promise<S[M]['result']> {
  return handlers[method](params);
}
