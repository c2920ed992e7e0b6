/**
 * `amd`: answering-machine detection on the caller's audio (Asterisk's AMD(), same parameters).
 * The result lands in the step's variable (`amd` by default) as {result, cause, detail,
 * analysed_ms, voice_ms, words}; `on: {human, machine, notsure}` was normalised into `next`
 * branches on `<variable>.result`. Digits pressed meanwhile are kept as type-ahead.
 */
import type { AmdStep } from '../types.ts';
import type { FlowContext } from '../context.ts';
import { errorTransitions, nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileAmd(step: AmdStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'detecting',
    states: {
      detecting: {
        invoke: {
          src: 'amd',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            parameters: step.parameters,
          }),
          onDone: { target: 'done', actions: { type: 'storeAmd', params: { variable: step.variable } } },
          onError: errorTransitions(step, cc),
        },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
