import { InvalidStateError, ValidationError } from '../../common/errors.ts';
import type { DtmfRequests, DtmfSendResult, Handlers } from '../../protocol/index.ts';
import type { DtmfEvent } from '../dtmf/DtmfEvent.ts';
import { isDtmfString } from '../dtmf/DtmfEvent.ts';
import { BridgeLink } from './BridgeLink.ts';
import { EndpointDtmf, type DtmfCounters, type InbandWork } from './dtmf/EndpointDtmf.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';

/** Press duration when the caller gives none (RFC 4733 senders commonly use 100 ms or more). */
export const DEFAULT_DTMF_DURATION_MS = 100;
/** ITU-T Q.24: receivers must accept 40 ms tones; below that a press may not be detected. */
export const MIN_DTMF_DURATION_MS = 40;
export const MAX_DTMF_DURATION_MS = 5000;
export const MAX_DTMF_DIGITS = 64;

/** A press converted across a bridge keeps its length within these bounds. */
const CONVERT_MIN_MS = 60;
const CONVERT_MAX_MS = 1000;

/**
 * The worker's DTMF engine (`dtmf.*` requests). Every configured endpoint gets an EndpointDtmf:
 * RFC 4733 receive always; in-band detection by default (settings.dtmfInband 'auto') only for
 * peers without telephone-event and only while something consumes their digits: `want()` from the
 * other engines (barge-in, terminate_on), `dtmf.listen` from the control plane (flows, API
 * listeners), a local bridge that converts the leg's digits to RFC 4733. 'plain', 'on' and 'off'
 * change the default, `dtmf.configure {inband}` overrides it per endpoint. Each press
 * is reported once as the notification `endpoint.dtmf {endpointId, digit, source, durationMs}`
 * and to the other engines through `ctx.emitDigit` (barge-in, recording terminate_on).
 *
 * Bridges (same worker) convert when only one leg negotiated telephone-event: RFC 4733 received
 * on one leg is played as tones on the other, in-band digits detected on a leg without
 * telephone-event are sent as RFC 4733 events on the other. The conversion happens when the press
 * ends (its duration is known then), so the converted press lags the original by its length.
 *
 * Requests:
 * - `dtmf.send {endpointId, digits, durationMs?}` → `{digits, method}` once sent;
 * - `dtmf.stop {endpointId}` abandons what is being sent;
 * - `dtmf.configure {endpointId, inband?}` → `{endpointId, inband, telephoneEvent}`;
 * - `dtmf.listen {endpointId, on}`: the control plane has listeners for the endpoint's digits.
 */
export class DtmfEngine implements MediaEngine<DtmfRequests> {
  readonly #ctx: WorkerContext;
  readonly #states = new Map<string, EndpointDtmf>();
  readonly #counters: DtmfCounters = {
    rfc4733Digits: 0,
    inbandDigits: 0,
    suppressed: 0,
    sentRfc4733: 0,
    sentInband: 0,
    eventPacketsSent: 0,
  };
  #converted = 0;
  /** In-band analysis work of endpoints already closed. */
  readonly #closedWork: InbandWork = { windows: 0, analysed: 0, measured: 0 };

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  readonly handlers: Handlers<DtmfRequests> = {
    'dtmf.send': (p) => this.#send(p),
    'dtmf.stop': (p) => {
      this.#states.get(endpointIdOf(p.endpointId))?.stopSending();
      return { ok: true };
    },
    'dtmf.configure': (p) => {
      const state = this.#state(endpointIdOf(p.endpointId));
      const inband: unknown = p.inband;
      if (inband !== undefined) {
        if (typeof inband !== 'boolean' && inband !== null)
          throw new ValidationError('INVALID_PARAMS', 'inband must be a boolean or null');
        state.setInband(inband);
      }
      return { endpointId: state.id, inband: state.inband, telephoneEvent: state.telephoneEvent };
    },
    'dtmf.listen': (p) => {
      if (typeof p.on !== 'boolean') throw new ValidationError('INVALID_PARAMS', 'on must be a boolean');
      this.#state(endpointIdOf(p.endpointId)).setListened(p.on);
      return { ok: true };
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof DtmfRequests>(method: M, params: DtmfRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  onEndpointConfigured(endpointId: string): void {
    this.#state(endpointId).configure();
    // telephone-event may have come or gone on either side of a bridge
    this.onBridgeChanged(endpointId);
  }

  /**
   * A digit consumer inside the worker (a barge-in playback, a recording with terminate_on) on
   * `endpointId`; returns its release (idempotent). NotFoundError when the endpoint is unknown.
   */
  want(endpointId: string): () => void {
    return this.#state(endpointId).want();
  }

  /**
   * `endpointId` joined or left a local bridge, or its media changed: a leg without
   * telephone-event bridged to one with it needs in-band detection (its digits go out as RFC 4733
   * events on the other leg); re-checks both legs.
   */
  onBridgeChanged(endpointId: string): void {
    const state = this.#states.get(endpointId);
    if (state === undefined) return;
    const link = state.endpoint.sink;
    const peer = link instanceof BridgeLink ? link.peer : null;
    const peerState = peer === null ? undefined : this.#states.get(peer.id);
    state.setConverting(peerState !== undefined && !state.telephoneEvent && peerState.telephoneEvent);
    if (peerState !== undefined) {
      const back = peerState.endpoint.sink;
      peerState.setConverting(
        back instanceof BridgeLink && back.peer === state.endpoint && !peerState.telephoneEvent && state.telephoneEvent,
      );
    }
  }

  onEndpointClosed(endpointId: string): void {
    const state = this.#states.get(endpointId);
    if (!state) return;
    state.close();
    state.addInbandWork(this.#closedWork);
    this.#states.delete(endpointId);
  }

  /**
   * Counters, with the in-band detectors' work: `inbandWindows` (6.4 ms windows of received audio
   * seen), `inbandAnalysed` (loud enough to run the DFTs), `inbandMeasured` (full measurement).
   */
  metrics(): Record<string, number> {
    const work: InbandWork = { ...this.#closedWork };
    let detecting = 0;
    for (const state of this.#states.values()) {
      state.addInbandWork(work);
      if (state.detecting) detecting++;
    }
    return {
      endpoints: this.#states.size,
      inbandEndpoints: detecting,
      ...this.#counters,
      converted: this.#converted,
      inbandWindows: work.windows,
      inbandAnalysed: work.analysed,
      inbandMeasured: work.measured,
    };
  }

  close(): void {
    for (const state of this.#states.values()) state.close();
    this.#states.clear();
  }

  /** The endpoint's DTMF state, created (and attached) on first use; NotFoundError when unknown. */
  #state(endpointId: string): EndpointDtmf {
    let state = this.#states.get(endpointId);
    if (state) return state;
    const ep = this.#ctx.endpoint(endpointId);
    const mode = this.#ctx.settings.dtmfInband;
    state = new EndpointDtmf(
      ep,
      () => this.#ctx.audio(endpointId),
      this.#ctx.clock,
      this.#counters,
      this.#onPress,
      mode === 'on' || mode === 'off' || mode === 'plain' ? mode : 'auto',
    );
    this.#states.set(endpointId, state);
    state.configure();
    return state;
  }

  async #send(params: DtmfRequests['dtmf.send']['params']): Promise<DtmfSendResult> {
    const state = this.#state(endpointIdOf(params.endpointId));
    const digits: unknown = params.digits;
    if (typeof digits !== 'string' || digits.length === 0 || digits.length > MAX_DTMF_DIGITS || !isDtmfString(digits)) {
      throw new ValidationError('INVALID_DTMF', `digits must be 1-${MAX_DTMF_DIGITS} of 0-9 * # A-D`);
    }
    const durationMs: unknown = params.durationMs ?? DEFAULT_DTMF_DURATION_MS;
    if (typeof durationMs !== 'number' || !(durationMs >= MIN_DTMF_DURATION_MS && durationMs <= MAX_DTMF_DURATION_MS)) {
      throw new ValidationError('INVALID_DTMF', `durationMs must be ${MIN_DTMF_DURATION_MS}-${MAX_DTMF_DURATION_MS}`);
    }
    const upper = digits.toUpperCase();
    if (state.endpoint.media === null)
      throw new InvalidStateError('ENDPOINT_NOT_CONFIGURED', `endpoint ${state.id} has no negotiated media`);
    if (state.telephoneEvent) {
      await state.sendEvents(upper, durationMs);
      return { digits: upper, method: 'rfc4733' };
    }
    await state.sendTones(upper, durationMs);
    return { digits: upper, method: 'inband' };
  }

  readonly #onPress = (state: EndpointDtmf, event: DtmfEvent): void => {
    this.#ctx.notify('endpoint.dtmf', {
      endpointId: state.id,
      digit: event.digit,
      source: event.source,
      durationMs: Math.round(event.durationMs),
    });
    this.#ctx.emitDigit(state.id, event.digit);
    this.#convert(state, event);
  };

  /** Bridge conversion between RFC 4733 and in-band when only one leg has telephone-event. */
  #convert(state: EndpointDtmf, event: DtmfEvent): void {
    const link = state.endpoint.sink;
    if (!(link instanceof BridgeLink)) return;
    const peer = link.peer;
    if (peer === null || peer.media === null || state.endpoint.media === null) return;
    const peerState = this.#states.get(peer.id);
    if (!peerState) return;
    const durationMs = Math.min(CONVERT_MAX_MS, Math.max(CONVERT_MIN_MS, Math.round(event.durationMs)));
    let sent: Promise<void> | null = null;
    if (event.source === 'rfc4733' && peer.media.telephoneEvent === null) {
      sent = peerState.sendTones(event.digit, durationMs);
    } else if (
      event.source === 'inband' &&
      state.endpoint.media.telephoneEvent === null &&
      peer.media.telephoneEvent !== null
    ) {
      sent = peerState.sendEvents(event.digit, durationMs);
    }
    if (sent === null) return;
    this.#converted++;
    sent.catch(() => {
      /* interrupted or the peer closed: nothing to report */
    });
  }
}

/** The control plane is typed, but the worker still checks the id it is handed. */
function endpointIdOf(id: unknown): string {
  if (typeof id !== 'string' || id === '') throw new ValidationError('INVALID_PARAMS', 'endpointId is required');
  return id;
}
