/** `say`: text-to-speech of a template; same barge-in rules as play. */
import type { SayStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import {
  errorTransitions,
  nextTransitions,
  stepState,
  IGNORE_DTMF,
  type CompileContext,
  type StateConfig,
} from './common.ts';

export function compileSay(step: SayStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'speaking',
    states: {
      speaking: {
        invoke: {
          src: 'say',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            text: renderText(step.text, context),
            voice: step.voice,
            bargeIn: step.bargeIn,
            bargeInSpeech: step.bargeInSpeech,
          }),
          onDone: 'done',
          onError: errorTransitions(step, cc),
        },
        on: { DTMF: step.bargeIn ? { target: 'done', actions: 'bufferDigit' } : IGNORE_DTMF },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
