/**
 * Compiler: a normalised FlowDefinition → an XState v5 machine built with
 * `setup({ actors, actions, guards })`. Each step type is compiled by its own module in
 * src/flows/steps/; actions and guards are referenced by name with params so the machine is
 * data plus a fixed vocabulary. Actors are placeholders here and injected with
 * `machine.provide()` by the runtime (src/flows/FlowSession.ts), so the same machine runs on the real
 * media server, on FakeEngines in tests and in `flows test`.
 */
import { assign, setup, type AnyStateMachine } from 'xstate';
import { placeholderActors, type FlowEvent, type HttpOutput } from './actors.ts';
import {
  pickTapered,
  scopeOf,
  toPlain,
  userVariables,
  valueOf,
  renderText,
  type FlowContext,
  type FlowInput,
  type FlowOutput,
} from './context.ts';
import { safeEvaluate, type Ast, type Template } from './expressions.ts';
import type { FlowDefinition, Step, Valuer } from './types.ts';
import type { AmdResult, LeaveResult, RecognizeResult, RecordResult, StreamStepResult } from './FlowEngines.ts';
import { stepTarget, type CompileContext, type StateConfig } from './steps/common.ts';
import { compilePlay } from './steps/play.ts';
import { compileSay } from './steps/say.ts';
import { compileCollect } from './steps/collect.ts';
import { compileMenu } from './steps/menu.ts';
import { compileRecord } from './steps/record.ts';
import { compileAmd } from './steps/amd.ts';
import { compileConference } from './steps/conference.ts';
import { compileBridge } from './steps/bridge.ts';
import { compileHttp } from './steps/http.ts';
import { compileSet } from './steps/set.ts';
import { compileBranch } from './steps/branch.ts';
import { compileGoto } from './steps/goto.ts';
import { compileCall } from './steps/call.ts';
import { compileReturn } from './steps/return.ts';
import { compileWait } from './steps/wait.ts';
import { compileLog } from './steps/log.ts';
import { compileTransfer } from './steps/transfer.ts';
import { compileHangup } from './steps/hangup.ts';
import { compileStream } from './steps/stream.ts';

/** Result fields of a `stream` step that become flow variables. */
const STREAM_VAR = /^[a-z_][a-z0-9_]{0,63}$/i;
/** Longest type-ahead kept between a barge-in and the next collect. */
const TYPEAHEAD_MAX = 32;
/** Steps one event may run through before the flow is declared stuck in a loop. */
const MAX_STEPS_PER_EVENT = 1000;

function compileStep(step: Step, cc: CompileContext): StateConfig {
  switch (step.type) {
    case 'play':
      return compilePlay(step, cc);
    case 'say':
      return compileSay(step, cc);
    case 'collect':
      return step.sourceType === 'menu' ? compileMenu(step, cc) : compileCollect(step, cc);
    case 'record':
      return compileRecord(step, cc);
    case 'amd':
      return compileAmd(step, cc);
    case 'conference':
      return compileConference(step, cc);
    case 'bridge':
      return compileBridge(step, cc);
    case 'http':
      return compileHttp(step, cc);
    case 'stream':
      return compileStream(step, cc);
    case 'set':
      return compileSet(step, cc);
    case 'branch':
      return step.sourceType === 'goto' ? compileGoto(step, cc) : compileBranch(step, cc);
    case 'call':
      return compileCall(step, cc);
    case 'return':
      return compileReturn(step, cc);
    case 'wait':
      return compileWait(step, cc);
    case 'log':
      return compileLog(step, cc);
    case 'transfer':
      return compileTransfer(step, cc);
    case 'hangup':
      return compileHangup(step, cc);
  }
}

/** Any event a flow sees, read loosely: DTMF/HANGUP plus XState's done/error events of actors. */
type Ev = { type: string; output?: unknown; error?: unknown; digit?: string; cause?: string };

function appendDigit(c: FlowContext['collect'], digit: string, terminator: string): FlowContext['collect'] {
  if (terminator !== '' && digit === terminator) return { ...c, terminated: true };
  if (c.terminated) return c;
  return { ...c, buffer: c.buffer + digit };
}

function assignAll(
  ctx: FlowContext,
  values: ReadonlyArray<readonly [string, Valuer]>,
  extra?: Record<string, unknown>,
): Record<string, unknown> {
  const vars = { ...ctx.vars };
  for (const [k, v] of values) {
    // Each assignment sees the ones before it, as authors read them top to bottom.
    vars[k] = valueOf(v, scopeOf({ ...ctx, vars }, extra));
  }
  return vars;
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'error' in e) return String((e as { error: unknown }).error);
  return String(e);
}

/** Hooks the runtime provides (step notifications, logging); no-ops by default. */
const hookActions = {
  notifyStep: (_: unknown, _params: { step: string; type: string }) => {},
  log: (_: unknown, _params: { message: Template; level: string; step: string }) => {},
};

export const flowSetup = setup({
  types: {} as { context: FlowContext; input: FlowInput; output: FlowOutput; events: FlowEvent },
  actors: placeholderActors,
  actions: {
    ...hookActions,
    enterStep: assign(({ context, event }, params: { step: string; type: string }) => {
      const burstCount = context.burstEvent === event ? context.burstCount + 1 : 1;
      // A loop of steps that never waits would block the event loop forever: fail the flow.
      if (burstCount > MAX_STEPS_PER_EVENT) {
        throw new Error(
          `more than ${MAX_STEPS_PER_EVENT} steps without waiting for anything, last '${params.step}' (a loop of set/branch/goto/log steps?)`,
        );
      }
      return { currentStep: params.step, burstEvent: event, burstCount };
    }),
    bufferDigit: assign(({ context, event }) => ({
      typeahead: (context.typeahead + ((event as unknown as Ev).digit ?? '')).slice(-TYPEAHEAD_MAX),
    })),
    collectInit: assign(({ context }, params: { bargeIn: boolean; terminator?: string }) => {
      let collect = { buffer: '', terminated: false, attempt: 1, noinput: 0, nomatch: 0 };
      if (params.bargeIn)
        for (const d of context.typeahead) collect = appendDigit(collect, d, params.terminator ?? '#');
      return { collect, typeahead: '' };
    }),
    collectClear: assign(({ context }) => ({ collect: { ...context.collect, buffer: '', terminated: false } })),
    collectAppend: assign(({ context, event }, params: { terminator: string }) => ({
      collect: appendDigit(context.collect, (event as unknown as Ev).digit ?? '', params.terminator),
    })),
    collectFailed: assign(({ context }, params: { kind: 'noinput' | 'nomatch' }) => ({
      collect: {
        ...context.collect,
        attempt: context.collect.attempt + 1,
        noinput: context.collect.noinput + (params.kind === 'noinput' ? 1 : 0),
        nomatch: context.collect.nomatch + (params.kind === 'nomatch' ? 1 : 0),
      },
      vars: { ...context.vars, last_input: params.kind === 'nomatch' ? context.collect.buffer : '' },
    })),
    collectStore: assign(({ context }, params: { variable: string; mode?: 'dtmf' }) => ({
      vars: {
        ...context.vars,
        [params.variable]: context.collect.buffer,
        last_digits: context.collect.buffer,
        ...(params.mode !== undefined ? { last_input_mode: params.mode } : {}),
      },
    })),
    /** What the recogniser heard, kept whatever the outcome (a nomatch handler may read it). */
    speechHeard: assign(({ context, event }) => {
      const r = (event as unknown as Ev).output as RecognizeResult;
      return { vars: { ...context.vars, last_transcript: r.transcript, last_confidence: r.confidence } };
    }),
    speechStore: assign(({ context, event }, params: { variable: string }) => {
      const r = (event as unknown as Ev).output as RecognizeResult;
      return {
        vars: {
          ...context.vars,
          [params.variable]: r.transcript,
          last_transcript: r.transcript,
          last_confidence: r.confidence,
          last_input_mode: 'speech',
        },
      };
    }),
    storeRecording: assign(({ context, event }, params: { variable: string }) => {
      const r = (event as unknown as Ev).output as RecordResult;
      const rec = { path: r.path, duration_ms: r.durationMs, cause: r.cause, ...(r.digit ? { digit: r.digit } : {}) };
      return { vars: { ...context.vars, [params.variable]: rec, last_recording: rec } };
    }),
    storeAmd: assign(({ context, event }, params: { variable: string }) => {
      const r = (event as unknown as Ev).output as AmdResult;
      const amd = {
        result: r.result,
        cause: r.cause,
        detail: r.detail,
        analysed_ms: r.analysedMs,
        voice_ms: r.voiceMs,
        words: r.words,
      };
      return { vars: { ...context.vars, [params.variable]: amd } };
    }),
    storeLeave: assign(({ context, event }, params: { variable: string }) => ({
      vars: {
        ...context.vars,
        [params.variable]: ((event as unknown as Ev).output as LeaveResult | undefined)?.reason ?? 'left',
      },
    })),
    storeStream: assign(({ context, event }, params: { variable: string }) => {
      const out = (event as unknown as Ev).output as StreamStepResult;
      const result = toPlain(out.result ?? {}) as Record<string, unknown>;
      const vars: Record<string, unknown> = { ...context.vars, [params.variable]: { reason: out.reason, result } };
      // The bot's fields become variables (names a flow could declare; nothing else).
      for (const [k, v] of Object.entries(result)) if (STREAM_VAR.test(k)) vars[k] = v;
      return { vars };
    }),
    storeHttp: assign(({ context, event }, params: { result: string | null; assign: Array<[string, Valuer]> }) => {
      const out = ((event as unknown as Ev).output ?? {
        ok: false,
        status: 0,
        body: null,
        headers: {},
        attempts: 0,
        error: errorMessage((event as unknown as Ev).error),
      }) as HttpOutput;
      const response = toPlain({
        status: out.status,
        body: out.body,
        headers: out.headers,
        ok: out.ok,
        attempts: out.attempts,
        error: out.error,
      });
      let vars: Record<string, unknown> = { ...context.vars, last_response: response };
      if (params.result) vars[params.result] = response;
      if (out.ok) vars = assignAll({ ...context, vars }, params.assign, { response });
      return { vars };
    }),
    storeReturns: assign(({ context, event }, params: { returns: Array<[string, Valuer]> }) => {
      const out = (event as unknown as Ev).output as FlowOutput;
      const returned = out.outcome?.action === 'completed' ? out.outcome.variables : {};
      const vars = { ...context.vars };
      for (const [k, v] of params.returns) vars[k] = valueOf(v, returned);
      return { vars, typeahead: '' };
    }),
    adoptOutcome: assign(({ event }) => ({ outcome: ((event as unknown as Ev).output as FlowOutput).outcome })),
    assignVars: assign(({ context }, params: { values: Array<[string, Valuer]> }) => ({
      vars: assignAll(context, params.values),
    })),
    setReturn: assign(({ context }, params: { values: Array<[string, Valuer]> | null }) => {
      const scope = scopeOf(context);
      const variables =
        params.values === null
          ? userVariables(context)
          : Object.fromEntries(params.values.map(([k, v]) => [k, valueOf(v, scope)]));
      return { outcome: { action: 'completed' as const, variables } };
    }),
    setTransfer: assign(({ context }, params: { target: Template }) => ({
      outcome: { action: 'transfer' as const, target: renderText(params.target, context) },
    })),
    setError: assign(({ context, event }, params: { step: string; code: string; message?: string }) => {
      const e = (event as unknown as Ev).error;
      const out = (event as unknown as Ev).output as HttpOutput | FlowOutput | undefined;
      const fromOutput =
        out && 'error' in out && out.error ? (typeof out.error === 'string' ? out.error : out.error.message) : null;
      const message = params.message ?? (e !== undefined ? errorMessage(e) : (fromOutput ?? 'step failed'));
      const error = { code: params.code, message, step: params.step };
      return { error, vars: { ...context.vars, last_error: error } };
    }),
    markHungUp: assign(({ context, event }, params?: { cause?: string }) => ({
      hungUp: true,
      hangupCause: context.hangupCause ?? params?.cause ?? (event as unknown as Ev).cause ?? 'hangup',
    })),
    finalizeOutcome: assign(({ context }) => ({
      outcome: context.hungUp
        ? { action: 'hangup' as const, cause: context.hangupCause ?? 'hangup' }
        : (context.outcome ?? { action: 'completed' as const, variables: userVariables(context) }),
    })),
    hangupOutcome: assign(({ context }) => ({
      outcome: { action: 'hangup' as const, cause: context.hangupCause ?? 'hangup' },
    })),
  },
  guards: {
    expr: ({ context }, params: { ast: Ast; text: string | null }) =>
      Boolean(safeEvaluate(params.ast, scopeOf(context))),
    isHungUp: ({ context }) => context.hungUp,
    /** A stream step's bot was stopped by the hang-up before the flow heard of it. */
    streamHungUp: ({ event }) => ((event as unknown as Ev).output as StreamStepResult | undefined)?.reason === 'hangup',
    collectHasInput: ({ context }) => context.collect.buffer.length > 0 || context.collect.terminated,
    collectEmpty: ({ context }) => context.collect.buffer.length === 0 && !context.collect.terminated,
    collectComplete: ({ context }, params: { max: number }) =>
      context.collect.terminated || context.collect.buffer.length >= params.max,
    collectValid: ({ context }, params: { min: number; max: number; pattern: RegExp | null; digits?: string }) => {
      const b = context.collect.buffer;
      if (b.length < params.min || b.length > params.max) return false;
      if (params.pattern && !params.pattern.test(b)) return false;
      return params.digits === undefined || params.digits === b;
    },
    speechRecognized: ({ event }, params: { minConfidence: number }) => {
      const r = (event as unknown as Ev).output as RecognizeResult | undefined;
      return r?.status === 'recognized' && r.transcript !== '' && r.confidence >= params.minConfidence;
    },
    speechNoInput: ({ event }) =>
      ((event as unknown as Ev).output as RecognizeResult | undefined)?.status === 'no_input',
    attemptsExhausted: ({ context }, params: { max: number }) => context.collect.attempt > params.max,
    httpOk: ({ event }) => ((event as unknown as Ev).output as HttpOutput | undefined)?.ok === true,
    outcomeIs: ({ event }, params: { action: string }) =>
      ((event as unknown as Ev).output as FlowOutput | undefined)?.outcome?.action === params.action,
  },
});

export interface CompiledFlow {
  definition: FlowDefinition;
  machine: AnyStateMachine;
}

/** Initial variables: declared defaults, then what the caller passed, then built-ins. */
function initialVars(flow: FlowDefinition, input: FlowInput): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(flow.variables)) vars[k] = toPlain(d.default);
  for (const [k, v] of Object.entries(input.variables)) vars[k] = toPlain(v);
  if (!('caller' in vars)) vars.caller = {};
  vars.last_digits = vars.last_digits ?? '';
  vars.last_recording = vars.last_recording ?? null;
  return vars;
}

export function compileFlow(flow: FlowDefinition): CompiledFlow {
  const cc: CompileContext = { flow };
  const states: Record<string, StateConfig> = {};
  for (const step of Object.values(flow.steps)) states[step.name] = compileStep(step, cc);
  states.__end = { type: 'final', entry: 'finalizeOutcome' };
  states.__hangup = { type: 'final', entry: 'hangupOutcome' };
  states.__failed = { type: 'final' };
  const rootHangup = [
    { guard: 'isHungUp', actions: [] },
    ...(flow.onHangup ? [{ target: stepTarget(flow.onHangup), actions: 'markHungUp' }] : []),
    { target: '#flow.__hangup', actions: 'markHungUp' },
  ];
  const config = {
    id: 'flow',
    context: ({ input }: { input: FlowInput }): FlowContext => ({
      flowName: flow.name,
      endpointId: input.endpointId,
      sessionId: input.sessionId,
      depth: input.depth ?? 0,
      vars: initialVars(flow, input),
      currentStep: null,
      typeahead: '',
      collect: { buffer: '', terminated: false, attempt: 0, noinput: 0, nomatch: 0 },
      outcome: null,
      hungUp: false,
      hangupCause: null,
      error: null,
      burstEvent: null,
      burstCount: 0,
    }),
    invoke: {
      src: 'endpointEvents',
      input: ({ context }: { context: FlowContext }) => ({ endpointId: context.endpointId }),
    },
    initial: flow.start,
    on: { DTMF: { actions: 'bufferDigit' }, HANGUP: rootHangup },
    states,
    output: ({ context }: { context: FlowContext }): FlowOutput => ({
      outcome: context.outcome,
      error: context.error,
      variables: userVariables(context),
    }),
  };
  // The config is assembled from data; XState validates targets and names when it is created.
  const machine = flowSetup.createMachine(
    config as unknown as Parameters<typeof flowSetup.createMachine>[0],
  ) as unknown as AnyStateMachine;
  return { definition: flow, machine };
}

export { pickTapered };
