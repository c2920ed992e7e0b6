/**
 * `call`: runs another flow on the same endpoint as a subdialog (VoiceXML §2.3.4): `params`
 * become its variables, and when it completes `returns` maps its returned variables into ours.
 * A hangup or transfer inside the subflow ends this flow the same way.
 */
import type { CallStep } from '../types.ts';
import { scopeOf, valueOf, type FlowContext } from '../context.ts';
import {
  errorTransitions,
  hangupTarget,
  nextTransitions,
  stepState,
  END,
  type CompileContext,
  type StateConfig,
} from './common.ts';

export function compileCall(step: CallStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'running',
    states: {
      running: {
        invoke: {
          src: 'subflow',
          input: ({ context }: { context: FlowContext }) => {
            const scope = scopeOf(context);
            return {
              flow: step.flow,
              endpointId: context.endpointId,
              sessionId: context.sessionId,
              depth: context.depth + 1,
              variables: Object.fromEntries(step.params.map(([k, v]) => [k, valueOf(v, scope)])),
            };
          },
          onDone: [
            {
              guard: { type: 'outcomeIs', params: { action: 'hangup' } },
              target: hangupTarget(step, cc),
              actions: 'markHungUp',
            },
            { guard: { type: 'outcomeIs', params: { action: 'transfer' } }, target: END, actions: 'adoptOutcome' },
            {
              guard: { type: 'outcomeIs', params: { action: 'completed' } },
              target: 'done',
              actions: { type: 'storeReturns', params: { returns: step.returns } },
            },
            ...errorTransitions(step, cc, 'SUBFLOW_FAILED'),
          ],
          onError: errorTransitions(step, cc, 'SUBFLOW_FAILED'),
        },
        // The subflow listens to the endpoint itself.
        on: { DTMF: { actions: [] } },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
