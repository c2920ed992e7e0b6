import { NotFoundError } from '../../common/errors.ts';
import type { TalkDetectOptions, TalkDetectState, TalkNotifications } from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface TalkHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
}

export type { TalkDetectOptions, TalkDetectState };

/**
 * Talk detection on endpoints (Asterisk's TALK_DETECT) on the control plane: turns it on with
 * thresholds or off in the endpoint's worker (TalkEngine) and publishes what it reports as
 * `endpoint.talking_started` / `endpoint.talking_stopped {duration_ms}`. The worker keeps the
 * state, which ends with the endpoint.
 */
export class TalkService {
  readonly #host: TalkHost;

  constructor(host: TalkHost) {
    this.#host = host;
  }

  /** Turns talk detection on (with these thresholds, defaults for what is left out) or, with null, off. */
  async configure(endpointId: string, options: TalkDetectOptions | null): Promise<TalkDetectState> {
    this.#assertEndpoint(endpointId);
    return this.#host.request(this.#host.workerOf(endpointId), 'talk.configure', { endpointId, options });
  }

  async get(endpointId: string): Promise<TalkDetectState> {
    this.#assertEndpoint(endpointId);
    return this.#host.request(this.#host.workerOf(endpointId), 'talk.get', { endpointId });
  }

  onStarted(n: TalkNotifications['talk.started']): void {
    this.#host.events.publish('endpoint.talking_started', wire.talkingStarted(n));
  }

  onStopped(n: TalkNotifications['talk.stopped']): void {
    this.#host.events.publish('endpoint.talking_stopped', wire.talkingStopped(n));
  }

  #assertEndpoint(endpointId: string): void {
    if (!this.#host.hasEndpoint(endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
  }
}
