/**
 * `stream`: hands the call to a voice bot over a media stream (Twilio Media Streams messages) until
 * the bot closes the stream or sends its final `{"event":"result","result":{...}}`; then
 * `{reason, result}` is stored in `variable` and each field of the result becomes a flow variable
 * of its own (a bot answering `{"action":"transfer","target":"..."}` lets `next` branch on
 * `action`). While the bot has the call, digits go to the bot, not to the flow; a hang-up stops
 * the stream (the bot gets `stop`).
 */
import type { StreamStep } from '../types.ts';
import { renderText, type FlowContext } from '../context.ts';
import type { StreamStepOptions } from '../FlowEngines.ts';
import {
  errorTransitions,
  hangupTarget,
  nextTransitions,
  stepState,
  type CompileContext,
  type StateConfig,
} from './common.ts';

function streamOptions(step: StreamStep, context: FlowContext): StreamStepOptions {
  const opts: StreamStepOptions = {
    url: renderText(step.url, context),
    parameters: Object.fromEntries(step.parameters.map(([k, t]) => [k, renderText(t, context)])),
    bidirectional: step.bidirectional,
  };
  if (step.tracks !== null) opts.tracks = step.tracks;
  if (step.encoding !== null) opts.encoding = step.encoding;
  if (step.sampleRate !== null) opts.sampleRate = step.sampleRate;
  if (step.mode !== null) opts.mode = step.mode;
  if (step.token !== null) opts.token = renderText(step.token, context);
  if (step.headers.length > 0)
    opts.headers = Object.fromEntries(step.headers.map(([k, t]) => [k, renderText(t, context)]));
  if (step.connectTimeoutMs !== null) opts.connectTimeoutMs = step.connectTimeoutMs;
  if (step.maxQueueMs !== null) opts.maxQueueMs = step.maxQueueMs;
  return opts;
}

export function compileStream(step: StreamStep, cc: CompileContext): StateConfig {
  const store = { type: 'storeStream', params: { variable: step.variable } };
  return stepState(step, cc, {
    initial: 'streaming',
    states: {
      streaming: {
        invoke: {
          src: 'stream',
          input: ({ context }: { context: FlowContext }) => ({
            endpointId: context.endpointId,
            options: streamOptions(step, context),
          }),
          onDone: [
            { guard: 'isHungUp', target: hangupTarget(step, cc), actions: store },
            // The worker stops the stream on hang-up, which may settle before the flow hears HANGUP.
            {
              guard: 'streamHungUp',
              target: hangupTarget(step, cc),
              actions: [store, { type: 'markHungUp', params: { cause: 'hangup' } }],
            },
            { target: 'done', actions: store },
          ],
          onError: errorTransitions(step, cc, 'STREAM_FAILED'),
        },
        // The bot has the call: digits are forwarded to it by the media worker, not typed ahead.
        on: { DTMF: { actions: [] } },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
