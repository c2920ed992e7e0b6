/**
 * `record`: records the caller until a terminator key, silence, max duration or hangup. A hangup
 * does not abandon the recording: the step stays until the engine has finalised the file (the
 * FlowEngines contract settles record() with cause 'hangup'), stores it, then goes on to the
 * hangup handling. This is the voicemail rule: hanging up saves the message.
 */
import type { RecordStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import {
  errorTransitions,
  hangupTarget,
  nextTransitions,
  stepState,
  type CompileContext,
  type StateConfig,
} from './common.ts';

export function compileRecord(step: RecordStep, cc: CompileContext): StateConfig {
  const store = { type: 'storeRecording', params: { variable: step.variable } };
  const cfg = stepState(step, cc, {
    initial: 'recording',
    states: {
      recording: {
        invoke: {
          src: 'record',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            options: {
              ...(step.path ? { path: renderText(step.path, context) } : {}),
              format: step.format,
              maxDurationMs: step.maxDurationMs,
              silenceTimeoutMs: step.silenceTimeoutMs,
              terminators: step.terminator,
              beep: step.beep,
            },
          }),
          onDone: [
            { guard: 'isHungUp', target: hangupTarget(step, cc), actions: store },
            { target: 'done', actions: store },
          ],
          onError: errorTransitions(step, cc),
        },
        on: { DTMF: { actions: [] } },
      },
      done: { always: nextTransitions(step) },
    },
  });
  // Overrides the flow-level (and step-level) hangup transition: wait for the finalised file.
  cfg.on = { ...(cfg.on ?? {}), HANGUP: { actions: 'markHungUp' } };
  return cfg;
}
