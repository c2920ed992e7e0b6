/** `hangup`: ends the call leg through the engines, then the flow with outcome hangup. */
import type { HangupStep } from '../types.ts';
import type { FlowContext } from '../context.ts';
import { stepState, HANGUP, type CompileContext, type StateConfig } from './common.ts';

export function compileHangup(step: HangupStep, cc: CompileContext): StateConfig {
  const cfg = stepState(step, cc, {
    entry: [{ type: 'markHungUp', params: { cause: step.cause } }],
    initial: 'hangingUp',
    states: {
      hangingUp: {
        invoke: {
          src: 'hangupCall',
          input: ({ context }: { context: FlowContext }) => ({ endpointId: context.endpointId, cause: step.cause }),
          // A failed hangup (endpoint already gone) still ends the flow as hung up.
          onDone: HANGUP,
          onError: HANGUP,
        },
      },
    },
  });
  // Our own hangup echoes back as an endpoint event: nothing more to do.
  cfg.on = { ...(cfg.on ?? {}), HANGUP: { actions: [] } };
  return cfg;
}
