/**
 * The XState context of a running flow and the helpers steps use to read it. Variables are plain
 * JSON-like data; built-ins (endpoint_id, session_id, caller, last_digits, last_recording, error,
 * attempt counters) live beside them in the same scope so expressions can read them by name.
 */
import { renderTemplate, renderValue, safeEvaluate, type Scope, type Template } from './expressions.ts';
import type { FlowOutcome, JsonTemplate, Valuer } from './types.ts';

export interface CollectState {
  buffer: string;
  terminated: boolean;
  attempt: number;
  noinput: number;
  nomatch: number;
}

export interface FlowError {
  code: string;
  message: string;
  step: string | null;
}

export interface FlowContext {
  flowName: string;
  endpointId: string;
  sessionId: string;
  depth: number;
  vars: Record<string, unknown>;
  currentStep: string | null;
  typeahead: string;
  collect: CollectState;
  outcome: FlowOutcome | null;
  hungUp: boolean;
  hangupCause: string | null;
  error: FlowError | null;
  /** Event being processed and how many steps it entered: catches loops that never wait. */
  burstEvent: unknown;
  burstCount: number;
}

export interface FlowInput {
  flowName: string;
  endpointId: string;
  sessionId: string;
  depth?: number;
  variables: Record<string, unknown>;
}

export interface FlowOutput {
  outcome: FlowOutcome | null;
  error: FlowError | null;
  variables: Record<string, unknown>;
}

/** Names the runtime owns; `set` cannot overwrite them. */
export const BUILTINS = [
  'endpoint_id',
  'session_id',
  'flow_name',
  'attempt',
  'noinput_count',
  'nomatch_count',
] as const;

/** The scope expressions see: variables plus read-only built-ins. Built per step, not per packet. */
export function scopeOf(ctx: FlowContext, extra?: Record<string, unknown>): Scope {
  return {
    ...ctx.vars,
    endpoint_id: ctx.endpointId,
    session_id: ctx.sessionId,
    flow_name: ctx.flowName,
    attempt: ctx.collect.attempt,
    noinput_count: ctx.collect.noinput,
    nomatch_count: ctx.collect.nomatch,
    error: ctx.error,
    ...extra,
  };
}

export function renderText(t: Template, ctx: FlowContext, extra?: Record<string, unknown>): string {
  return renderTemplate(t, scopeOf(ctx, extra));
}

export function valueOf(v: Valuer, scope: Scope): unknown {
  if ('literal' in v) return v.literal;
  return toPlain(safeEvaluate(v.ast, scope));
}

/** Renders a JSON body template into plain data. */
export function renderJson(j: JsonTemplate, scope: Scope): unknown {
  switch (j.kind) {
    case 'template':
      return renderValue(j.t, scope);
    case 'literal':
      return j.value;
    case 'array':
      return j.items.map((x) => renderJson(x, scope));
    case 'object':
      return Object.fromEntries(j.entries.map(([k, x]) => [k, renderJson(x, scope)]));
  }
}

/** Variables hold data only: a deep copy through JSON drops anything else. */
export function toPlain(v: unknown): unknown {
  if (v === undefined || v === null || typeof v !== 'object') return v;
  return JSON.parse(JSON.stringify(v)) as unknown;
}

/** Tapered prompt pick (VoiceXML 'count'): entry count-1, the last one repeating. */
export function pickTapered<T>(list: readonly T[], count: number): T | undefined {
  if (list.length === 0) return undefined;
  return list[Math.min(Math.max(count, 1), list.length) - 1];
}

/** User variables only (what `completed` reports). */
export function userVariables(ctx: FlowContext): Record<string, unknown> {
  return { ...ctx.vars };
}
