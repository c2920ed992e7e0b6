import { randomUUID } from 'node:crypto';
import {
  amdParameterError,
  amdParametersFromConf,
  amdParametersToConf,
  type AmdParameters,
} from '../../common/amdParameters.ts';
import { NotFoundError, ValidationError } from '../../common/errors.ts';
import type { AmdCause, AmdFinished, AmdStatus } from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

export type { AmdCause, AmdParameters, AmdStatus };

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface AmdHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
}

/**
 * The result of a detection: a decision (`human | machine | notsure`, Asterisk's AMDSTATUS), or
 * `hangup` (the endpoint went away first, AMDSTATUS HANGUP) or `cancelled` (stopped).
 */
export type AmdOutcome = AmdStatus | 'hangup' | 'cancelled';

/** A detection as the API shows it (GET /endpoints/:id/amd/:amd_id). */
export interface AmdDetection {
  id: string;
  endpoint_id: string;
  state: 'running' | 'done';
  /** null while running. */
  result: AmdOutcome | null;
  /** AMDCAUSE's keyword (`HUMAN`, `LONGGREETING`, ..., `HANGUP`, `CANCELLED`); null while running. */
  cause: AmdCause | 'HANGUP' | 'CANCELLED' | null;
  /** AMDCAUSE as Asterisk writes it (`MAXWORDS-3-2`); null while running and for hangup/cancelled. */
  detail: string | null;
  analysed_ms: number;
  voice_ms: number;
  words: number;
  /** Every parameter under its amd.conf name, defaults filled in. */
  parameters: Record<string, number>;
}

/** Finished detections kept for GET; the oldest go first. */
const KEEP_FINISHED = 1000;

/**
 * Answering-machine detection on the control plane: starts detections on an endpoint's worker
 * (AmdEngine), keeps their state for the API, publishes each outcome once as `endpoint.amd`, and
 * gives the flows a detect() that waits for it. Parameters are Asterisk's (amd.conf names on
 * the wire); a detection ends `hangup` when its endpoint goes away.
 */
export class AmdService {
  readonly #host: AmdHost;
  readonly #detections = new Map<string, AmdDetection>();
  readonly #waiters = new Map<string, (d: AmdDetection) => void>();
  #finished = 0;

  constructor(host: AmdHost) {
    this.#host = host;
  }

  /**
   * Parameters under their amd.conf names (REST and flow bodies) → checked parameters;
   * ValidationError('INVALID_AMD_PARAMETERS') naming the wrong one.
   */
  static parseParameters(conf: Readonly<Record<string, unknown>>): Partial<AmdParameters> {
    const params = amdParametersFromConf(conf);
    const error = amdParameterError(params);
    if (error !== null) throw new ValidationError('INVALID_AMD_PARAMETERS', error);
    return params as Partial<AmdParameters>;
  }

  /** Starts a detection on `endpointId`; resolves once the worker taps the endpoint. */
  async start(endpointId: string, parameters: Partial<AmdParameters> = {}): Promise<AmdDetection> {
    const error = amdParameterError(parameters);
    if (error !== null) throw new ValidationError('INVALID_AMD_PARAMETERS', error);
    this.#assertEndpoint(endpointId);
    const id = `amd-${randomUUID()}`;
    const detection: AmdDetection = {
      id,
      endpoint_id: endpointId,
      state: 'running',
      result: null,
      cause: null,
      detail: null,
      analysed_ms: 0,
      voice_ms: 0,
      words: 0,
      parameters: amdParametersToConf(parameters),
    };
    this.#detections.set(id, detection);
    try {
      await this.#host.request(this.#host.workerOf(endpointId), 'amd.start', { amdId: id, endpointId, parameters });
    } catch (err) {
      this.#detections.delete(id);
      throw err;
    }
    return { ...detection };
  }

  /** The detection `id` (of `endpointId` when given); NotFoundError('AMD_NOT_FOUND'). */
  get(id: string, endpointId?: string): AmdDetection {
    const d = this.#detections.get(id);
    if (d === undefined || (endpointId !== undefined && d.endpoint_id !== endpointId)) {
      throw new NotFoundError('AMD_NOT_FOUND', `detection ${id} not found`);
    }
    return { ...d, parameters: { ...d.parameters } };
  }

  /** Stops a running detection (result `cancelled`); a finished one is returned as it is. */
  async stop(id: string, endpointId?: string): Promise<AmdDetection> {
    const d = this.get(id, endpointId);
    if (d.state === 'done') return d;
    await this.#host.request(this.#host.workerOf(d.endpoint_id), 'amd.stop', { amdId: id }).catch(() => {
      /* the endpoint went meanwhile: endpointClosed() ends it */
    });
    this.#end(id, 'cancelled', 'CANCELLED');
    return this.get(id);
  }

  /**
   * Runs a detection to its end (flows): resolves with the finished detection (also `hangup`);
   * aborting stops it and rejects with the signal's reason.
   */
  async detect(endpointId: string, parameters: Partial<AmdParameters>, signal?: AbortSignal): Promise<AmdDetection> {
    signal?.throwIfAborted();
    const started = await this.start(endpointId, parameters);
    const current = this.#detections.get(started.id);
    if (current !== undefined && current.state === 'done') return this.get(started.id);
    return new Promise<AmdDetection>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(started.id);
        this.stop(started.id).catch(() => {});
        reject(signal!.reason);
      };
      this.#waiters.set(started.id, (d) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(d);
      });
      // aborted while the worker was starting it: no abort event will come any more
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The engine's `amd.finished`. */
  onFinished(n: AmdFinished): void {
    const d = this.#detections.get(n.amdId);
    if (d === undefined || d.state === 'done') return;
    d.analysed_ms = n.analysedMs;
    d.voice_ms = n.voiceMs;
    d.words = n.words;
    this.#end(n.amdId, n.status, n.cause, n.detail);
  }

  /** The endpoint is gone (hangup or worker death): its running detections end `hangup`. */
  endpointClosed(endpointId: string): void {
    for (const d of [...this.#detections.values()]) {
      if (d.endpoint_id === endpointId && d.state === 'running') this.#end(d.id, 'hangup', 'HANGUP');
    }
  }

  /** Running detections (metrics). */
  get running(): number {
    return this.#detections.size - this.#finished;
  }

  close(): void {
    for (const d of [...this.#detections.values()]) if (d.state === 'running') this.#end(d.id, 'hangup', 'HANGUP');
  }

  #end(id: string, result: AmdOutcome, cause: NonNullable<AmdDetection['cause']>, detail: string | null = null): void {
    const d = this.#detections.get(id);
    if (d === undefined || d.state === 'done') return;
    d.state = 'done';
    d.result = result;
    d.cause = cause;
    d.detail = detail;
    this.#finished++;
    this.#host.events.publish('endpoint.amd', {
      endpoint_id: d.endpoint_id,
      id: d.id,
      result,
      cause,
      detail,
      analysed_ms: d.analysed_ms,
      voice_ms: d.voice_ms,
      words: d.words,
    });
    const waiter = this.#waiters.get(id);
    this.#waiters.delete(id);
    waiter?.(this.get(id));
    this.#forgetOldest();
  }

  /** Keeps at most KEEP_FINISHED finished detections (a Map iterates in insertion order). */
  #forgetOldest(): void {
    if (this.#finished <= KEEP_FINISHED) return;
    for (const d of this.#detections.values()) {
      if (d.state !== 'done') continue;
      this.#detections.delete(d.id);
      if (--this.#finished <= KEEP_FINISHED) return;
    }
  }

  #assertEndpoint(endpointId: string): void {
    if (!this.#host.hasEndpoint(endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
  }
}
