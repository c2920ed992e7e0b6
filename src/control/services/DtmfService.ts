import { randomUUID } from 'node:crypto';
import { MediaServerError, NotFoundError, ValidationError } from '../../common/errors.ts';
import type { DtmfMethod, DtmfPressed, DtmfRequests, DtmfSendResult, DtmfSource } from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import { KeyedListeners } from '../../common/KeyedListeners.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface DtmfHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
}

export type { DtmfMethod, DtmfSendResult, DtmfSource };

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
  /** Key press listeners by endpoint: a press reaches only those of its endpoint; null: it closed. */
  readonly #listeners = new KeyedListeners<DtmfPress | null>();
  /**
   * Listeners per endpoint: the worker is told when an endpoint gets its first and loses its last
   * (`dtmf.listen`), so in-band detection (DTMF_INBAND=auto) runs only while someone listens.
   */
  readonly #listenCounts = new Map<string, number>();
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
    const params: DtmfRequests['dtmf.send']['params'] = { endpointId, digits };
    if (durationMs !== undefined) params.durationMs = durationMs;
    const worker = this.#host.workerOf(endpointId);
    const sent = this.#host.request(worker, 'dtmf.send', params);
    if (!signal) return sent;
    return new Promise<DtmfSendResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.#host.request(worker, 'dtmf.stop', { endpointId }).catch(() => {
          /* endpoint gone */
        });
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
    const accepted: DtmfSendAccepted = {
      id: `dtmf-${randomUUID()}`,
      endpoint_id: endpointId,
      digits: digits.toUpperCase(),
      duration_ms: durationMs,
    };
    const subject = { id: accepted.id, endpoint_id: endpointId };
    this.send(endpointId, digits, { durationMs }).then(
      (r) => this.#host.events.publish('dtmf.sent', { ...subject, digits: r.digits, method: r.method }),
      (err: unknown) => {
        const named = err instanceof MediaServerError;
        this.#host.events.publish('dtmf.failed', {
          ...subject,
          digits: accepted.digits,
          code: named ? err.code : 'INTERNAL',
          message: named ? err.message : 'internal error',
        });
      },
    );
    return accepted;
  }

  /**
   * In-band detection on an endpoint: `inband` true always (a client that reads `endpoint.dtmf`
   * from the event stream), false never, null as DTMF_INBAND decides (RFC 4733 receive is always
   * on). Answers whether in-band detection runs now.
   */
  async configure(
    endpointId: string,
    options: { inband?: boolean | null },
  ): Promise<{ inband: boolean; telephoneEvent: boolean }> {
    this.#assertEndpoint(endpointId);
    const params: DtmfRequests['dtmf.configure']['params'] = { endpointId };
    if (options.inband !== undefined) params.inband = options.inband;
    const r = await this.#host.request(this.#host.workerOf(endpointId), 'dtmf.configure', params);
    return { inband: r.inband, telephoneEvent: r.telephoneEvent };
  }

  /** Calls `listener` for every key press received on `endpointId`; returns the unsubscribe. */
  onDigit(endpointId: string, listener: (press: DtmfPress) => void): () => void {
    return this.#listen(endpointId, (press) => {
      if (press !== null) listener(press);
    });
  }

  /** Adds a listener and keeps the worker's demand for the endpoint's digits; returns the removal. */
  #listen(endpointId: string, listener: (press: DtmfPress | null) => void): () => void {
    const remove = this.#listeners.add(endpointId, listener);
    const count = (this.#listenCounts.get(endpointId) ?? 0) + 1;
    this.#listenCounts.set(endpointId, count);
    if (count === 1) this.#tellListened(endpointId, true);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      remove();
      const left = (this.#listenCounts.get(endpointId) ?? 0) - 1;
      if (left > 0) {
        this.#listenCounts.set(endpointId, left);
      } else if (this.#listenCounts.delete(endpointId)) {
        this.#tellListened(endpointId, false);
      }
    };
  }

  #tellListened(endpointId: string, on: boolean): void {
    if (!this.#host.hasEndpoint(endpointId)) return;
    this.#host.request(this.#host.workerOf(endpointId), 'dtmf.listen', { endpointId, on }).catch(() => {
      /* the endpoint closed meanwhile: nothing left to listen to */
    });
  }

  /** The engine's `endpoint.dtmf`: published, then handed to the endpoint's listeners. */
  onPressed(n: DtmfPressed): void {
    const event = this.#host.events.publish('endpoint.dtmf', wire.dtmf(n));
    this.#listeners.call(n.endpointId, {
      endpointId: n.endpointId,
      digit: n.digit,
      source: n.source,
      durationMs: n.durationMs,
      seq: event.seq,
    });
  }

  /** The endpoint is gone (hangup or worker death): no digit can come any more. */
  endpointClosed(endpointId: string): void {
    this.#listenCounts.delete(endpointId);
    this.#listeners.end(endpointId, null);
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
      const unsubscribe = this.#listen(endpointId, (press) => {
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        // null: hangup or worker death, no digit can come any more
        if (press !== null) resolve(press);
        else reject(new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} was deleted`));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #check(endpointId: string, digits: string, durationMs: number | undefined): void {
    if (typeof digits !== 'string' || !DIGITS.test(digits))
      throw new ValidationError('INVALID_DTMF', 'digits must be 1-64 of 0-9 * # A-D');
    if (durationMs !== undefined && !(Number.isInteger(durationMs) && durationMs >= 40 && durationMs <= 5000)) {
      throw new ValidationError('INVALID_DTMF', 'duration_ms must be an integer 40-5000');
    }
    const total = digits.length * (durationMs ?? DEFAULT_DURATION_MS);
    if (total > MAX_DTMF_TOTAL_MS) {
      throw new ValidationError(
        'DTMF_TOO_LONG',
        `${digits.length} digits of ${durationMs ?? DEFAULT_DURATION_MS} ms is ${total} ms of tones; the limit is ${MAX_DTMF_TOTAL_MS} ms (digits × duration_ms)`,
      );
    }
    this.#assertEndpoint(endpointId);
  }

  #assertEndpoint(endpointId: string): void {
    if (!this.#host.hasEndpoint(endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
  }
}
