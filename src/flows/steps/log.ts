/** `log`: writes a templated message to the flow logger (with session and step), then goes on. */
import type { LogStep } from '../types.ts';
import { nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileLog(step: LogStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    entry: [{ type: 'log', params: { message: step.message, level: step.level, step: step.name } }],
    always: nextTransitions(step),
  });
}
