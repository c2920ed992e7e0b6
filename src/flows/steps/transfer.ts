/** `transfer`: ends the flow with outcome {action: 'transfer', target} for the b2bua to act on. */
import type { TransferStep } from '../types.ts';
import { stepState, END, type CompileContext, type StateConfig } from './common.ts';

export function compileTransfer(step: TransferStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    always: { target: END, actions: { type: 'setTransfer', params: { target: step.target } } },
  });
}
