/**
 * Actor implementations for compiled flows, built over FlowEngines and injected into a machine
 * with `machine.provide({ actors })`. Promise actors pass their `signal` to the engines so that
 * leaving a step (barge-in, hangup, stop) stops playback, finalises recordings and aborts HTTP;
 * the endpoint listener is a callback actor whose cleanup unsubscribes.
 */
import { fromCallback, fromPromise } from 'xstate';
import type { AmdParameters } from '../common/amdParameters.ts';
import {
  fetchHttp,
  systemClock,
  type AmdResult,
  type ConferenceOptions,
  type FlowClock,
  type FlowEngines,
  type HttpResponse,
  type LeaveResult,
  type PlayResult,
  type RecognizeOptions,
  type RecognizeResult,
  type RecordOptions,
  type RecordResult,
  type StreamStepOptions,
  type StreamStepResult,
} from './FlowEngines.ts';
import type { FlowOutput } from './context.ts';

export interface PlayInput {
  endpointId: string;
  items: string[];
  bargeIn: boolean;
  bargeInSpeech?: boolean;
}
export interface SayInput {
  endpointId: string;
  text: string;
  voice: string | null;
  bargeIn: boolean;
  bargeInSpeech?: boolean;
}
export interface ListenInput {
  endpointId: string;
  options: RecognizeOptions;
}
export interface RecordInput {
  endpointId: string;
  options: RecordOptions;
}
export interface AmdInput {
  endpointId: string;
  parameters: Partial<AmdParameters>;
}
export interface ConferenceInput {
  endpointId: string;
  room: string;
  options: Record<string, unknown>;
}
export interface BridgeInput {
  endpointId: string;
  target: string;
  options: Record<string, unknown>;
}
export interface StreamInput {
  endpointId: string;
  options: StreamStepOptions;
}
export interface HangupInput {
  endpointId: string;
  cause: string;
}
export interface HttpInput {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
}
export interface HttpOutput {
  ok: boolean;
  status: number;
  body: unknown;
  headers: Record<string, string>;
  attempts: number;
  error: string | null;
}
export interface SubflowInput {
  flow: string;
  endpointId: string;
  sessionId: string;
  depth: number;
  variables: Record<string, unknown>;
}

/** Runs a named flow to its end on the same endpoint (the FlowService supplies it). */
export type SubflowRunner = (input: SubflowInput, signal: AbortSignal) => Promise<FlowOutput>;

export type FlowEvent = { type: 'DTMF'; digit: string } | { type: 'HANGUP'; cause: string };

function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}

/** Resolves after `ms` on `clock`, or rejects when `signal` aborts (and clears the timer). */
export function delay(clock: FlowClock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(h);
      reject(abortError());
    };
    const h = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function parseBody(res: HttpResponse): unknown {
  const ct = Object.entries(res.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (ct.includes('json') || /^\s*[[{]/.test(res.body)) {
    try {
      return JSON.parse(res.body) as unknown;
    } catch {
      /* keep text */
    }
  }
  return res.body;
}

/**
 * One request with timeout, retried on network errors, timeouts and 5xx/429 with exponential
 * backoff (backoff · 2^(n-1)). 4xx other than 429 is an answer, not a transient failure.
 */
export async function httpWithRetries(
  input: HttpInput,
  fetcher: typeof fetchHttp,
  clock: FlowClock,
  signal: AbortSignal,
): Promise<HttpOutput> {
  let last: HttpOutput = { ok: false, status: 0, body: null, headers: {}, attempts: 0, error: 'not attempted' };
  for (let attempt = 1; attempt <= input.retries + 1; attempt++) {
    if (attempt > 1) await delay(clock, input.backoffMs * 2 ** (attempt - 2), signal);
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = clock.setTimeout(() => ac.abort(), input.timeoutMs);
    try {
      const res = await fetcher({
        method: input.method,
        url: input.url,
        headers: input.headers,
        ...(input.body !== undefined ? { body: input.body } : {}),
        signal: ac.signal,
      });
      const ok = res.status >= 200 && res.status < 300;
      last = {
        ok,
        status: res.status,
        body: parseBody(res),
        headers: res.headers,
        attempts: attempt,
        error: ok ? null : `HTTP ${res.status}`,
      };
      if (ok || (res.status < 500 && res.status !== 429)) return last;
    } catch (err) {
      if (signal.aborted) throw abortError();
      last = {
        ok: false,
        status: 0,
        body: null,
        headers: {},
        attempts: attempt,
        error: ac.signal.aborted ? `timeout after ${input.timeoutMs} ms` : (err as Error).message,
      };
    } finally {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
  return last;
}

function notProvided(name: string) {
  return fromPromise<never, unknown>(() => Promise.reject(new Error(`flow actor '${name}' was not provided`)));
}

/** Placeholders the compiler registers in `setup()`; real ones come from createFlowActors(). */
export const placeholderActors = {
  play: notProvided('play') as unknown as ReturnType<typeof fromPromise<PlayResult, PlayInput>>,
  say: notProvided('say') as unknown as ReturnType<typeof fromPromise<PlayResult, SayInput>>,
  record: notProvided('record') as unknown as ReturnType<typeof fromPromise<RecordResult, RecordInput>>,
  amd: notProvided('amd') as unknown as ReturnType<typeof fromPromise<AmdResult, AmdInput>>,
  conference: notProvided('conference') as unknown as ReturnType<typeof fromPromise<LeaveResult, ConferenceInput>>,
  bridge: notProvided('bridge') as unknown as ReturnType<typeof fromPromise<LeaveResult, BridgeInput>>,
  http: notProvided('http') as unknown as ReturnType<typeof fromPromise<HttpOutput, HttpInput>>,
  stream: notProvided('stream') as unknown as ReturnType<typeof fromPromise<StreamStepResult, StreamInput>>,
  subflow: notProvided('subflow') as unknown as ReturnType<typeof fromPromise<FlowOutput, SubflowInput>>,
  hangupCall: notProvided('hangupCall') as unknown as ReturnType<typeof fromPromise<void, HangupInput>>,
  listen: notProvided('listen') as unknown as ReturnType<typeof fromPromise<RecognizeResult, ListenInput>>,
  endpointEvents: fromCallback<FlowEvent, { endpointId: string }>(() => () => {}),
};

/** The real actors over `engines`. */
export function createFlowActors(engines: FlowEngines, runSubflow: SubflowRunner) {
  const clock = engines.clock ?? systemClock;
  const fetcher = engines.http ?? fetchHttp;
  return {
    play: fromPromise<PlayResult, PlayInput>(({ input, signal }) =>
      engines.play(input.endpointId, input.items, {
        bargeIn: input.bargeIn,
        signal,
        ...(input.bargeInSpeech === true ? { bargeInSpeech: true } : {}),
      }),
    ),
    say: fromPromise<PlayResult, SayInput>(({ input, signal }) =>
      engines.say(input.endpointId, input.text, {
        bargeIn: input.bargeIn,
        signal,
        ...(input.bargeInSpeech === true ? { bargeInSpeech: true } : {}),
        ...(input.voice ? { voice: input.voice } : {}),
      }),
    ),
    record: fromPromise<RecordResult, RecordInput>(({ input, signal }) =>
      engines.record(input.endpointId, input.options, signal),
    ),
    amd: fromPromise<AmdResult, AmdInput>(({ input, signal }) => {
      if (engines.amd === undefined) return Promise.reject(new Error('answering-machine detection is not available'));
      return engines.amd(input.endpointId, input.parameters, signal);
    }),
    conference: fromPromise<LeaveResult, ConferenceInput>(({ input, signal }) => {
      const o = input.options;
      const opts: ConferenceOptions = { ...o };
      if (o.end_on_exit !== undefined) {
        opts.endOnExit = Boolean(o.end_on_exit);
        delete opts.end_on_exit;
      }
      return engines.joinConference(input.endpointId, input.room, opts, signal);
    }),
    bridge: fromPromise<LeaveResult, BridgeInput>(({ input, signal }) =>
      engines.bridge(input.endpointId, input.target, input.options, signal),
    ),
    http: fromPromise<HttpOutput, HttpInput>(({ input, signal }) => httpWithRetries(input, fetcher, clock, signal)),
    stream: fromPromise<StreamStepResult, StreamInput>(async ({ input, signal }) => {
      if (engines.stream === undefined) throw new Error('this server has no media streams (stream step)');
      const r = await engines.stream(input.endpointId, input.options, signal);
      if (r.reason === 'error') throw new Error('the bot could not be reached (stream error)');
      return r;
    }),
    subflow: fromPromise<FlowOutput, SubflowInput>(({ input, signal }) => runSubflow(input, signal)),
    hangupCall: fromPromise<void, HangupInput>(({ input }) => engines.hangup(input.endpointId, input.cause)),
    listen: fromPromise<RecognizeResult, ListenInput>(({ input, signal }) => {
      if (engines.recognize === undefined)
        return Promise.reject(new Error('speech input is not available (no speech recogniser engine)'));
      return engines.recognize(input.endpointId, input.options, signal);
    }),
    endpointEvents: fromCallback<FlowEvent, { endpointId: string }>(({ sendBack, input }) => {
      const offDtmf = engines.onDtmf(input.endpointId, (digit) => sendBack({ type: 'DTMF', digit }));
      const offHangup = engines.onHangup(input.endpointId, (cause) => sendBack({ type: 'HANGUP', cause }));
      return () => {
        offDtmf();
        offHangup();
      };
    }),
  };
}
