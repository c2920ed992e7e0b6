/** `return`: ends the flow with outcome completed and the given values (a subflow's return). */
import type { ReturnStep } from '../types.ts';
import { stepState, END, type CompileContext, type StateConfig } from './common.ts';

export function compileReturn(step: ReturnStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    always: { target: END, actions: { type: 'setReturn', params: { values: step.values } } },
  });
}
