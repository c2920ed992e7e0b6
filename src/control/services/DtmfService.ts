import { randomUUID } from 'node:crypto';
import { MediaServerError, NotFoundError, ValidationError } from '../../common/errors.ts';
import type { ServerEvent } from '../types.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface DtmfHost {
  readonly events: {
    subscribe(listener: (event: ServerEvent) => void): () => void;
    emit(type: string, payload: Record<string, unknown>): unknown;
  };
  hasEndpoint(id: string): boolean;
  engineRequest<T = unknown>(endpointId: string, method: string, params: Record<string, unknown>): Promise<T>;
}

export type DtmfMethod = 'rfc4733' | 'inband';
export type DtmfSource = 'rfc4733' | 'inband';

export interface DtmfSendResult {
  digits: string;
  method: DtmfMethod;
}

/** One key press as the `endpoint.dtmf` event reports it. */
export interface DtmfPress {
  endpointId: string;
  digit: string;
  source: DtmfSource;
  durationMs: number;
  seq: number;
}

/** What `start()` answers at once (POST /endpoints/:id/dtmf, 202); the outcome comes as an event. */
export interface DtmfSendAccepted {
  id: string;
  endpoint_id: string;
  /** The digits to send, A-D upper-cased. */
  digits: string;
  duration_ms: number;
}

export interface DtmfSendOptions {
  /** Tone / event length per digit (40-5000 ms, default 100). */
  durationMs?: number;
  /** Aborting stops the sending; send() then rejects with the signal's reason. */
  signal?: AbortSignal;
}

const DIGITS = /^[0-9*#A-Da-d]{1,64}$/;
const DEFAULT_DURATION_MS = 100;
/** Longest send accepted: digits × duration_ms, so no request keeps a line busy for minutes. */
export const MAX_DTMF_TOTAL_MS = 30_000;

/**
 * DTMF on the control plane: sending digits to an endpoint (RFC 4733 when its peer negotiated
 * telephone-event, else in-band tones; the worker's DtmfEngine decides) and listening to the key
 * presses an endpoint receives (`endpoint.dtmf` events on the bus), for the API and the flows.
 */
export class DtmfService {
  readonly #host: DtmfHost;
  static readonly #byHost = new WeakMap<DtmfHost, DtmfService>();

  /** The one service of a MediaServer, created on first use (API routes and flows share it). */
  static of(host: DtmfHost): DtmfService {
    let service = DtmfService.#byHost.get(host);
    if (service === undefined) {
      service = new DtmfService(host);
      DtmfService.#byHost.set(host, service);
    }
    return service;
  }

  constructor(host: DtmfHost) {
    this.#host = host;
  }

  /**
   * Sends `digits` (0-9 * # A-D) and resolves once the last one went out (RFC 4733: its third end
   * packet; in-band: its tone and pause), with the method used.
   */
  async send(endpointId: string, digits: string, options: DtmfSendOptions = {}): Promise<DtmfSendResult> {
    const durationMs = options.durationMs;
    this.#check(endpointId, digits, durationMs);
    const signal = options.signal;
    signal?.throwIfAborted();
    const params: Record<string, unknown> = { endpointId, digits };
    if (durationMs !== undefined) params.durationMs = durationMs;
    const sent = this.#host.engineRequest<DtmfSendResult>(endpointId, 'dtmf.send', params);
    if (!signal) return sent;
    return new Promise<DtmfSendResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.#host.engineRequest(endpointId, 'dtmf.stop', { endpointId }).catch(() => { /* endpoint gone */ });
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sent.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Starts sending `digits` and answers at once with an id (the API's 202): sending 64 long
   * presses takes a while, and no request waits for it. The outcome is an event on the bus:
   * `dtmf.sent {id, endpoint_id, digits, method}` once the last digit went out, or
   * `dtmf.failed {id, endpoint_id, digits, code, message}` (endpoint gone, media not negotiated,
   * interrupted). Bad digits, a bad duration, a send over MAX_DTMF_TOTAL_MS or an unknown
   * endpoint throw at once.
   */
  start(endpointId: string, digits: string, options: { durationMs?: number } = {}): DtmfSendAccepted {
    const durationMs = options.durationMs ?? DEFAULT_DURATION_MS;
    this.#check(endpointId, digits, durationMs);
    const accepted: DtmfSendAccepted = { id: `dtmf-${randomUUID()}`, endpoint_id: endpointId, digits: digits.toUpperCase(), duration_ms: durationMs };
    const subject = { id: accepted.id, endpoint_id: endpointId };
    this.send(endpointId, digits, { durationMs }).then(
      (r) => this.#host.events.emit('dtmf.sent', { ...subject, digits: r.digits, method: r.method }),
      (err: unknown) => {
        const named = err instanceof MediaServerError;
        this.#host.events.emit('dtmf.failed', {
          ...subject,
          digits: accepted.digits,
          code: named ? err.code : 'INTERNAL',
          message: named ? err.message : 'internal error',
        });
      },
    );
    return accepted;
  }

  /** Turns in-band detection on an endpoint on or off (RFC 4733 receive is always on). */
  async configure(endpointId: string, options: { inband?: boolean }): Promise<{ inband: boolean; telephoneEvent: boolean }> {
    this.#assertEndpoint(endpointId);
    const params: Record<string, unknown> = { endpointId };
    if (options.inband !== undefined) params.inband = options.inband;
    const r = await this.#host.engineRequest<{ inband: boolean; telephoneEvent: boolean }>(endpointId, 'dtmf.configure', params);
    return { inband: r.inband, telephoneEvent: r.telephoneEvent };
  }

  /** Calls `listener` for every key press received on `endpointId`; returns the unsubscribe. */
  onDigit(endpointId: string, listener: (press: DtmfPress) => void): () => void {
    return this.#host.events.subscribe((event) => {
      if (event.type !== 'endpoint.dtmf' || event.endpoint_id !== endpointId) return;
      listener(pressOf(event));
    });
  }

  /**
   * The next key press on `endpointId` (flows' "wait for a digit"): resolves with it, rejects
   * with the signal's reason on abort, with ENDPOINT_NOT_FOUND when the endpoint goes meanwhile.
   */
  async nextDigit(endpointId: string, signal?: AbortSignal): Promise<DtmfPress> {
    this.#assertEndpoint(endpointId);
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        unsubscribe();
        reject(signal!.reason);
      };
      const unsubscribe = this.#host.events.subscribe((event) => {
        if (event.endpoint_id !== endpointId) return;
        if (event.type === 'endpoint.dtmf') {
          unsubscribe();
          signal?.removeEventListener('abort', onAbort);
          resolve(pressOf(event));
        } else if (event.type === 'endpoint.deleted') {
          // hangup or worker death: no digit can come any more
          unsubscribe();
          signal?.removeEventListener('abort', onAbort);
          reject(new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} was deleted`));
        }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #check(endpointId: string, digits: string, durationMs: number | undefined): void {
    if (typeof digits !== 'string' || !DIGITS.test(digits)) throw new ValidationError('INVALID_DTMF', 'digits must be 1-64 of 0-9 * # A-D');
    if (durationMs !== undefined && !(Number.isInteger(durationMs) && durationMs >= 40 && durationMs <= 5000)) {
      throw new ValidationError('INVALID_DTMF', 'duration_ms must be an integer 40-5000');
    }
    const total = digits.length * (durationMs ?? DEFAULT_DURATION_MS);
    if (total > MAX_DTMF_TOTAL_MS) {
      throw new ValidationError('DTMF_TOO_LONG', `${digits.length} digits of ${durationMs ?? DEFAULT_DURATION_MS} ms is ${total} ms of tones; the limit is ${MAX_DTMF_TOTAL_MS} ms (digits × duration_ms)`);
    }
    this.#assertEndpoint(endpointId);
  }

  #assertEndpoint(endpointId: string): void {
    if (!this.#host.hasEndpoint(endpointId)) throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
  }
}

function pressOf(event: ServerEvent): DtmfPress {
  return {
    endpointId: String(event.endpoint_id),
    digit: String(event.digit),
    source: event.source === 'inband' ? 'inband' : 'rfc4733',
    durationMs: Number(event.duration_ms),
    seq: event.seq,
  };
}
