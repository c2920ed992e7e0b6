import { amdParameterError } from '../../common/amdParameters.ts';
import { InvalidStateError, ValidationError } from '../../common/errors.ts';
import type { AmdRequests, Handlers } from '../../protocol/index.ts';
import type { AmdResult } from '../dsp/AnsweringMachineDetector.ts';
import { EndpointAmd } from './amd/EndpointAmd.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';

/**
 * The worker's answering-machine detection engine (`amd.*` requests): each detection taps an
 * endpoint's decoded received audio (any codec; the detector works at 8 kHz) and ends in exactly
 * one `amd.finished {amdId, endpointId, status, cause, detail, ...}`, unless stopped or its
 * endpoint closes first (the control plane reports those itself).
 */
export class AmdEngine implements MediaEngine<AmdRequests> {
  readonly #ctx: WorkerContext;
  readonly #active = new Map<string, EndpointAmd>();
  readonly #counters = { started: 0, human: 0, machine: 0, notsure: 0, stopped: 0 };

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  readonly handlers: Handlers<AmdRequests> = {
    'amd.start': (p) => {
      const amdId: unknown = p.amdId;
      if (typeof amdId !== 'string' || amdId === '') throw new ValidationError('INVALID_PARAMS', 'amdId is required');
      if (this.#active.has(amdId)) throw new InvalidStateError('AMD_EXISTS', `detection ${amdId} is running`);
      const parameters = p.parameters ?? {};
      const error = amdParameterError(parameters);
      if (error !== null) throw new ValidationError('INVALID_AMD_PARAMETERS', error);
      this.#ctx.endpoint(p.endpointId); // NotFoundError when unknown
      const amd = new EndpointAmd(
        amdId,
        p.endpointId,
        this.#ctx.audio(p.endpointId),
        this.#ctx.clock,
        parameters,
        this.#onDecided,
      );
      this.#active.set(amdId, amd);
      this.#counters.started++;
      amd.start(performance.now());
      return { amdId };
    },
    'amd.stop': (p) => {
      const amd = this.#active.get(p.amdId);
      if (amd) {
        amd.close();
        this.#active.delete(p.amdId);
        this.#counters.stopped++;
      }
      return { ok: true };
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof AmdRequests>(method: M, params: AmdRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  onEndpointClosed(endpointId: string): void {
    for (const [id, amd] of this.#active) {
      if (amd.endpointId !== endpointId) continue;
      amd.close();
      this.#active.delete(id);
      this.#counters.stopped++;
    }
  }

  metrics(): Record<string, number> {
    return { active: this.#active.size, ...this.#counters };
  }

  close(): void {
    for (const amd of this.#active.values()) amd.close();
    this.#active.clear();
  }

  readonly #onDecided = (amd: EndpointAmd, r: AmdResult): void => {
    this.#active.delete(amd.id);
    this.#counters[r.status]++;
    this.#ctx.notify('amd.finished', {
      amdId: amd.id,
      endpointId: amd.endpointId,
      status: r.status,
      cause: r.cause,
      detail: r.detail,
      analysedMs: r.analysedMs,
      voiceMs: r.voiceMs,
      words: r.words,
    });
  };
}
