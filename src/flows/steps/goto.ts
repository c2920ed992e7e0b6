/** `goto`: normalised by the loader into a branch with one unconditional way out. */
import type { BranchStep } from '../types.ts';
import { compileBranch } from './branch.ts';
import type { CompileContext, StateConfig } from './common.ts';

export function compileGoto(step: BranchStep, cc: CompileContext): StateConfig {
  return compileBranch(step, cc);
}
