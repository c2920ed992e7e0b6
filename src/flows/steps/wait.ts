/** `wait`: a pause on the flow clock (one timer, cleared if the step is left early). */
import type { WaitStep } from '../types.ts';
import { nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileWait(step: WaitStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'waiting',
    states: {
      waiting: { after: { [step.durationMs]: 'done' } },
      done: { always: nextTransitions(step) },
    },
  });
}
