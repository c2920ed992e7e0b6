/** `conference`: joins a named room with participant options until the caller leaves it. */
import type { ConferenceStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import { errorTransitions, nextTransitions, stepState, type CompileContext, type StateConfig } from './common.ts';

export function compileConference(step: ConferenceStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'joined',
    states: {
      joined: {
        invoke: {
          src: 'conference',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            room: renderText(step.room, context),
            options: step.options,
          }),
          onDone: { target: 'done', actions: { type: 'storeLeave', params: { variable: 'conference_result' } } },
          onError: errorTransitions(step, cc),
        },
        // DTMF in a conference belongs to the conference (mute keys etc.), not to type-ahead.
        on: { DTMF: { actions: [] } },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
