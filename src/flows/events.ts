/**
 * The flows' own public events, in wire form: what FlowService emits. The control plane merges
 * them into its catalogue (control/events.ts, ServerEvents), so flows need not import control.
 * Published as JSON Schema under schemas/events/.
 */
import type { FlowError } from './context.ts';
import type { FlowOutcome } from './types.ts';

type SessionSubject = { session_id: string; flow: string; endpoint_id: string };

/** Event type -> payload (without the bus's `seq`, `type` and `time`). */
export interface FlowEvents {
  /** A flow version was registered (file, reload or PUT); `file` is null without a flows directory. */
  'flow.loaded': { name: string; version: number; file: string | null };
  /** A flow file was refused; `flow` names the version kept, if any. `errors`: "file:line:col: message". */
  'flow.invalid': { file: string; flow: string | null; errors: string[] };
  'flow.removed': { name: string };
  'flow.started': SessionSubject & { version: number; variables: Record<string, unknown> };
  /** `step_type`: the step's type as written in the YAML; `subflow`: set inside a called flow. */
  'flow.step': SessionSubject & { step: string; step_type: string; subflow?: string };
  'flow.completed': SessionSubject & { outcome: FlowOutcome; variables: Record<string, unknown> };
  'flow.failed': SessionSubject & { error: FlowError; variables: Record<string, unknown> };
}

export type FlowEventType = keyof FlowEvents;

/** Where FlowService's events go (the control plane's bus, a test's recorder). */
export type FlowEmit = <T extends FlowEventType>(type: T, payload: FlowEvents[T]) => void;
