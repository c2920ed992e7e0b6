/** `play`: media items on the endpoint; with barge_in a digit stops it and is kept as type-ahead. */
import type { PlayStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import {
  errorTransitions,
  nextTransitions,
  stepState,
  IGNORE_DTMF,
  type CompileContext,
  type StateConfig,
} from './common.ts';

export function compilePlay(step: PlayStep, cc: CompileContext): StateConfig {
  return stepState(step, cc, {
    initial: 'playing',
    states: {
      playing: {
        invoke: {
          src: 'play',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            items: step.media.map((t) => renderText(t, context)),
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
