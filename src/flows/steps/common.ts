/**
 * Shared pieces for step compilers: a step becomes one XState state node with id `step:NAME`;
 * the compiler modules only build plain config objects that reference actions, guards and actors
 * by name (implemented in src/flows/compiler.ts and src/flows/actors.ts).
 */
import type { FlowDefinition, NextBranch, Step } from '../types.ts';

/** A state node config as plain data; XState checks it when the machine is created. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StateConfig = Record<string, any>;
export type TransitionConfig = Record<string, unknown>;

export const stepId = (name: string): string => `step:${name}`;
export const stepTarget = (name: string): string => `#step:${name}`;
export const END = '#flow.__end';
export const HANGUP = '#flow.__hangup';
export const FAILED = '#flow.__failed';

export interface CompileContext {
  flow: FlowDefinition;
}

/** Transitions that follow `next`: guarded branches in order, then end of flow. */
export function nextTransitions(step: Step, actions: unknown[] = []): TransitionConfig[] {
  return branchTransitions(step.next, actions);
}

export function branchTransitions(next: readonly NextBranch[], actions: unknown[] = []): TransitionConfig[] {
  const out: TransitionConfig[] = [];
  for (const b of next) {
    const t: TransitionConfig = { target: stepTarget(b.target), actions };
    if (b.cond) t.guard = { type: 'expr', params: { ast: b.cond, text: b.condText } };
    out.push(t);
    if (!b.cond) return out;
  }
  out.push({ target: END, actions });
  return out;
}

/** Where a failing step goes: its on_error, the flow's on_error (unless we are in it), or fail. */
export function errorTarget(step: Step, cc: CompileContext): string {
  if (step.onError) return stepTarget(step.onError);
  if (cc.flow.onError && cc.flow.onError !== step.name) return stepTarget(cc.flow.onError);
  return FAILED;
}

/** onError transitions of an invoke: after a hangup the flow just ends as hung up. */
export function errorTransitions(step: Step, cc: CompileContext, code = 'STEP_FAILED'): TransitionConfig[] {
  return [
    { guard: 'isHungUp', target: HANGUP },
    { target: errorTarget(step, cc), actions: { type: 'setError', params: { step: step.name, code } } },
  ];
}

/** Where a hangup during this step leads. */
export function hangupTarget(step: Step, cc: CompileContext): string {
  if (step.onHangup) return stepTarget(step.onHangup);
  if (cc.flow.onHangup && cc.flow.onHangup !== step.name) return stepTarget(cc.flow.onHangup);
  return HANGUP;
}

/**
 * The outer state every step shares: entry notifies the runtime, a step-level on_hangup
 * overrides the flow's. `states` are the step's own substates; `done` follows `next`.
 */
export function stepState(step: Step, cc: CompileContext, body: StateConfig): StateConfig {
  const enter = [
    { type: 'enterStep', params: { step: step.name, type: step.type } },
    { type: 'notifyStep', params: { step: step.name, type: 'sourceType' in step ? step.sourceType : step.type } },
  ];
  const cfg: StateConfig = { id: stepId(step.name), ...body, entry: [...enter, ...(body.entry ?? [])] };
  if (step.onHangup || cc.flow.onHangup === step.name) {
    // In the flow's on_hangup handler a second hangup cannot happen; a step-level one wins.
    cfg.on = { ...(cfg.on ?? {}), HANGUP: hangupTransitions(step, cc) };
  }
  return cfg;
}

export function hangupTransitions(step: Step, cc: CompileContext): TransitionConfig[] {
  return [
    { guard: 'isHungUp', actions: [] },
    { target: hangupTarget(step, cc), actions: 'markHungUp' },
  ];
}

/** Ignore a digit (no barge-in): handled here so it does not reach the type-ahead buffer. */
export const IGNORE_DTMF = { actions: [] };
