/** `set`: assigns variables from expressions, then follows `next` at once. */
import type { SetStep } from '../types.ts';
import { nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileSet(step: SetStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    entry: [{ type: 'assignVars', params: { values: step.values } }],
    always: nextTransitions(step),
  });
}
