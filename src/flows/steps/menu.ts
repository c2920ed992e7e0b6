/**
 * `menu` is shorthand over `collect`: the loader normalises it into a CollectStep with `choices`
 * (digits → step, max_digits from the longest key, no terminator, variable `choice`), and the
 * collect compiler handles it. Kept as its own module so each YAML step type has one.
 */
import type { CollectStep } from '../types.ts';
import { compileCollect } from './collect.ts';
import type { CompileContext, StateConfig } from './common.ts';

export function compileMenu(step: CollectStep, cc: CompileContext): StateConfig {
  if (step.choices === null) throw new Error(`step '${step.name}' is not a menu`);
  return compileCollect(step, cc);
}
