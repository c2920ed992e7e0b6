/** `bridge`: connects the caller with another endpoint (id from variables) until the bridge ends. */
import type { BridgeStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import { errorTransitions, nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileBridge(step: BridgeStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'bridged',
    states: {
      bridged: {
        invoke: {
          src: 'bridge',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            target: renderText(step.target, context),
            options: step.options,
          }),
          onDone: { target: 'done', actions: { type: 'storeLeave', params: { variable: 'bridge_result' } } },
          onError: errorTransitions(step, cc),
        },
        on: { DTMF: { actions: [] } },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
