import { ValidationError } from '../../common/errors.ts';
import type { Handlers, TalkDetectOptions, TalkDetectState, TalkRequests } from '../../protocol/index.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { EndpointTalk, talkOptions, type TalkWatcher } from './talk/EndpointTalk.ts';

/**
 * A detector nobody uses any more is kept this long: a prompt barged in by speech hands over to
 * the recognition of that same speech, which must find the talk (and its start) still known.
 */
const LINGER_MS = 3000;

function num(v: unknown, key: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new ValidationError('INVALID_TALK_DETECT', `${key} must be a number in ${min}..${max}`);
  return v;
}

/** The control plane is typed, but the worker still checks the thresholds it is handed. */
function checkOptions(o: unknown): TalkDetectOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new ValidationError('INVALID_TALK_DETECT', 'options must be an object');
  const p = o as Record<string, unknown>;
  const out: TalkDetectOptions = {};
  const threshold = num(p.thresholdDbfs, 'thresholdDbfs', -90, 0);
  const silence = num(p.silenceThresholdDbfs, 'silenceThresholdDbfs', -100, 0);
  const minTalk = num(p.minTalkMs, 'minTalkMs', 0, 10_000);
  const silenceMs = num(p.silenceMs, 'silenceMs', 20, 60_000);
  if (threshold !== undefined) out.thresholdDbfs = threshold;
  if (silence !== undefined) out.silenceThresholdDbfs = silence;
  if (minTalk !== undefined) out.minTalkMs = minTalk;
  if (silenceMs !== undefined) out.silenceMs = silenceMs;
  return out;
}

/**
 * Talk detection on any endpoint (`talk.*` requests), like Asterisk's TALK_DETECT: an
 * EndpointTalk taps the endpoint's decoded received audio. `talk.configure` with options enables
 * the notifications `talk.started {endpointId}` / `talk.stopped {endpointId, durationMs}`; null
 * disables them. Other engines watch the same detector through `watch()` (the worker context's
 * `watchTalk`): playback barge-in on speech, speech recognition endpointing. A detector lives
 * while it is enabled or watched (and LINGER_MS after).
 */
export class TalkEngine implements MediaEngine<TalkRequests> {
  readonly #ctx: WorkerContext;
  readonly #states = new Map<string, EndpointTalk>();
  readonly #linger = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #counters = { started: 0, stopped: 0 };

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  readonly handlers: Handlers<TalkRequests> = {
    'talk.configure': (p) => {
      const id = endpointIdOf(p.endpointId);
      if (p.options === null) {
        const state = this.#states.get(id);
        if (state === undefined) {
          this.#ctx.endpoint(id); // NotFoundError for an unknown endpoint
          return this.#info(id, null);
        }
        state.published = false;
        this.#release(state);
        return this.#info(id, state);
      }
      const options = checkOptions(p.options);
      const state = this.#state(id);
      state.configure(options);
      state.published = true;
      return this.#info(id, state);
    },
    'talk.get': (p) => {
      const id = endpointIdOf(p.endpointId);
      const state = this.#states.get(id);
      if (state === undefined) this.#ctx.endpoint(id);
      return this.#info(id, state ?? null);
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof TalkRequests>(method: M, params: TalkRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  /** Watches the endpoint's talk (detector created on first use); returns the state and a function that stops watching. */
  watch(endpointId: string, watcher: TalkWatcher): { talk: EndpointTalk; off: () => void } {
    const state = this.#state(endpointId);
    state.watchers.add(watcher);
    return {
      talk: state,
      off: () => {
        state.watchers.delete(watcher);
        this.#release(state);
      },
    };
  }

  onEndpointClosed(endpointId: string): void {
    const state = this.#states.get(endpointId);
    if (state === undefined) return;
    this.#forget(state);
  }

  metrics(): Record<string, number> {
    return { endpoints: this.#states.size, started: this.#counters.started, stopped: this.#counters.stopped };
  }

  close(): void {
    for (const state of [...this.#states.values()]) this.#forget(state);
  }

  #state(endpointId: string): EndpointTalk {
    const timer = this.#linger.get(endpointId);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#linger.delete(endpointId);
    }
    let state = this.#states.get(endpointId);
    if (state !== undefined) return state;
    state = new EndpointTalk(endpointId, this.#ctx.audio(endpointId), this.#ctx.clock, this.#onPublic);
    this.#states.set(endpointId, state);
    return state;
  }

  /** Once neither enabled nor watched, the detector goes after LINGER_MS. */
  #release(state: EndpointTalk): void {
    if (state.published || state.watchers.size > 0 || this.#linger.has(state.endpointId)) return;
    const timer = setTimeout(() => {
      this.#linger.delete(state.endpointId);
      if (!state.published && state.watchers.size === 0) this.#forget(state);
    }, LINGER_MS);
    timer.unref();
    this.#linger.set(state.endpointId, timer);
  }

  #forget(state: EndpointTalk): void {
    const timer = this.#linger.get(state.endpointId);
    if (timer !== undefined) clearTimeout(timer);
    this.#linger.delete(state.endpointId);
    if (this.#states.get(state.endpointId) === state) this.#states.delete(state.endpointId);
    state.close();
  }

  readonly #onPublic = (state: EndpointTalk, talking: boolean, durationMs: number): void => {
    if (talking) {
      this.#counters.started++;
      this.#ctx.notify('talk.started', { endpointId: state.endpointId });
    } else {
      this.#counters.stopped++;
      this.#ctx.notify('talk.stopped', { endpointId: state.endpointId, durationMs });
    }
  };

  #info(endpointId: string, state: EndpointTalk | null): TalkDetectState {
    return {
      endpointId,
      enabled: state?.published ?? false,
      talking: state?.talking ?? false,
      options: state?.options ?? talkOptions(),
    };
  }
}

function endpointIdOf(id: unknown): string {
  if (typeof id !== 'string' || id === '') throw new ValidationError('INVALID_PARAMS', 'endpointId is required');
  return id;
}
