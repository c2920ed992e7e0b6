/** `branch` and `goto`: no action, the normalised `next` (conditions, then else) decides. */
import type { BranchStep } from '../types.ts';
import { nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileBranch(step: BranchStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, { always: nextTransitions(step) });
}
