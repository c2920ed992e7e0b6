/**
 * One run of a compiled flow on one endpoint: wraps the XState actor, records the step history,
 * and reports the end exactly once. `FlowRun` is the bare run (also used for subflows);
 * `FlowSession` adds identity, history and events for the API.
 */
import { createActor, type AnyActor, type AnyStateMachine } from 'xstate';
import type { Logger } from '../common/logger.ts';
import { createFlowActors, type SubflowRunner } from './actors.ts';
import type { CompiledFlow } from './compiler.ts';
import { renderText, type FlowContext, type FlowError, type FlowInput, type FlowOutput } from './context.ts';
import type { Template } from './expressions.ts';
import { systemClock, type FlowClock, type FlowEngines } from './FlowEngines.ts';
import type { FlowOutcome } from './types.ts';

export interface RunHooks {
  onStep(sessionId: string, flow: string, step: string, type: string): void;
  logger: Logger;
}

/**
 * Injects the engines and the runtime hooks into a compiled machine. Done once per compiled
 * flow, not per session: `provide()` rebuilds the state tree, the costly part of a start. The
 * hooks find their session through the context (session id, flow name).
 */
export function provideFlow(
  compiled: CompiledFlow,
  engines: FlowEngines,
  runSubflow: SubflowRunner,
  hooks: RunHooks,
): AnyStateMachine {
  return compiled.machine.provide({
    actors: createFlowActors(engines, runSubflow),
    actions: {
      notifyStep: ({ context }: { context: FlowContext }, params: { step: string; type: string }) =>
        hooks.onStep(context.sessionId, context.flowName, params.step, params.type),
      log: (
        { context }: { context: FlowContext },
        params: { message: Template; level: 'debug' | 'info' | 'warn' | 'error'; step: string },
      ) => {
        hooks.logger[params.level](
          { flow: context.flowName, session_id: context.sessionId, step: params.step },
          renderText(params.message, context),
        );
      },
    } as never,
  });
}

/** A started actor for one flow; `done` settles once with its output (never rejects). */
export class FlowRun {
  readonly actor: AnyActor;
  readonly done: Promise<FlowOutput>;
  #settle!: (o: FlowOutput) => void;
  #settled = false;

  /** `machine` comes from provideFlow(). */
  constructor(machine: AnyStateMachine, input: FlowInput, clock: FlowClock = systemClock) {
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.actor = createActor(machine, { input, clock });
    this.actor.subscribe({
      complete: () => this.#finish(this.actor.getSnapshot().output as FlowOutput),
      error: (err: unknown) =>
        this.#finish({
          outcome: null,
          error: {
            code: 'FLOW_CRASHED',
            message: err instanceof Error ? err.message : String(err),
            step: this.context()?.currentStep ?? null,
          },
          variables: this.context()?.vars ?? {},
        }),
    });
  }

  start(): this {
    this.actor.start();
    return this;
  }

  context(): FlowContext | undefined {
    return (this.actor.getSnapshot() as { context?: FlowContext }).context;
  }

  get finished(): boolean {
    return this.#settled;
  }

  /** Stops the actor and every child (playback stopped, recording finalised, timers cleared). */
  stop(outcome: FlowOutcome = { action: 'stopped' }): void {
    if (this.#settled) return;
    const vars = this.context()?.vars ?? {};
    this.#finish({ outcome, error: null, variables: vars });
    this.actor.stop();
  }

  #finish(o: FlowOutput): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle(o);
  }
}

export type SessionStatus = 'running' | 'completed' | 'failed' | 'stopped';

export interface HistoryEntry {
  step: string;
  type: string;
  flow: string;
  at: number;
}

/** Bound on the history kept per session, so a looping flow cannot grow without end. */
const HISTORY_MAX = 500;

export class FlowSession {
  readonly id: string;
  readonly flowName: string;
  readonly version: number;
  readonly endpointId: string;
  readonly startedAt: number;
  readonly history: HistoryEntry[] = [];
  status: SessionStatus = 'running';
  outcome: FlowOutcome | null = null;
  error: FlowError | null = null;
  endedAt: number | null = null;
  #run: FlowRun | null = null;
  #finalVars: Record<string, unknown> | null = null;

  constructor(id: string, flowName: string, version: number, endpointId: string, startedAt: number) {
    this.id = id;
    this.flowName = flowName;
    this.version = version;
    this.endpointId = endpointId;
    this.startedAt = startedAt;
  }

  /** @internal attached by FlowService */
  attach(run: FlowRun): void {
    this.#run = run;
  }

  recordStep(step: string, type: string, flow: string, at: number): void {
    if (this.history.length >= HISTORY_MAX) this.history.shift();
    this.history.push({ step, type, flow, at });
  }

  /** @internal */
  end(out: FlowOutput, at: number): void {
    this.#finalVars = out.variables;
    this.outcome = out.outcome;
    this.error = out.error;
    this.endedAt = at;
    this.status = out.outcome === null ? 'failed' : out.outcome.action === 'stopped' ? 'stopped' : 'completed';
  }

  get currentStep(): string | null {
    if (this.status !== 'running') return null;
    return this.#run?.context()?.currentStep ?? null;
  }

  get variables(): Record<string, unknown> {
    return this.#finalVars ?? this.#run?.context()?.vars ?? {};
  }

  /** Resolves when the session has ended. */
  get done(): Promise<FlowOutput> {
    return this.#run?.done ?? Promise.resolve({ outcome: this.outcome, error: this.error, variables: this.variables });
  }

  /** Stops the session; idempotent. */
  stop(): void {
    this.#run?.stop();
  }

  /** API shape (snake_case). */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      flow: this.flowName,
      version: this.version,
      endpoint_id: this.endpointId,
      status: this.status,
      current_step: this.currentStep,
      variables: this.variables,
      history: this.history.map((h) => ({
        step: h.step,
        type: h.type,
        flow: h.flow,
        at: new Date(h.at).toISOString(),
      })),
      outcome: this.outcome,
      error: this.error,
      started_at: new Date(this.startedAt).toISOString(),
      ended_at: this.endedAt === null ? null : new Date(this.endedAt).toISOString(),
    };
  }
}
