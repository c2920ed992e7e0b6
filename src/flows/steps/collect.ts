/**
 * `collect` (and `menu`, normalised into collect with choices): DTMF input following VoiceXML 2.0
 * field semantics (§2.3.1, timeouts §6.3.3 / Appendix D): the prompt may be barged in, then the
 * first-digit timeout (`timeout`) runs, each digit restarts the inter-digit timeout
 * (`interdigittimeout`), the terminator or max_digits end input at once. Empty input is a
 * `noinput`, input that fails min/max/pattern/choices a `nomatch` (§5.2.2 catch with counts).
 * Handler prompts are tapered by their own count, the field prompt by the attempt number
 * (§4.1.6 prompt counter). After max_attempts the step goes to `on_failure`.
 */
import type { CollectStep } from '../types.ts';
import { pickTapered, renderText, type FlowContext } from '../context.ts';
import type { Template } from '../expressions.ts';
import type { ListenInput } from '../actors.ts';
import type { RecognizeOptions } from '../FlowEngines.ts';
import {
  errorTransitions,
  errorTarget,
  nextTransitions,
  stepState,
  stepTarget,
  type CompileContext,
  type StateConfig,
  type TransitionConfig,
} from './common.ts';

function promptInput(
  list: Template[][],
  counter: (c: FlowContext) => number,
  bargeIn: boolean,
  bargeInSpeech: boolean,
) {
  return ({ context }: { context: FlowContext }) => ({
    endpointId: context.endpointId,
    items: (pickTapered(list, counter(context)) ?? []).map((t) => renderText(t, context)),
    bargeIn,
    bargeInSpeech,
  });
}

/** What the `listen` actor is asked (the step's speech settings; the first-digit timeout is the time to start talking). */
function listenInput(step: CollectStep) {
  return ({ context }: { context: FlowContext }): ListenInput => {
    const options: RecognizeOptions = { noInputMs: step.firstDigitTimeoutMs, maxSpeechMs: step.speech.maxSpeechMs };
    if (step.speech.url !== null) options.url = step.speech.url;
    if (step.speech.language !== null) options.language = step.speech.language;
    if (step.speech.hints.length > 0) options.hints = step.speech.hints;
    return { endpointId: context.endpointId, options };
  };
}

export function compileCollect(step: CollectStep, cc: CompileContext): StateConfig {
  const dtmfToDigits = {
    target: 'digits',
    actions: { type: 'collectAppend', params: { terminator: step.terminator } },
  };
  const failure: TransitionConfig = step.onFailure
    ? { target: stepTarget(step.onFailure) }
    : {
        target: errorTarget(step, cc),
        actions: {
          type: 'setError',
          params: {
            step: step.name,
            code: 'MAX_ATTEMPTS',
            message: `no valid input after ${step.maxAttempts} attempts`,
          },
        },
      };
  const exhausted = { guard: { type: 'attemptsExhausted', params: { max: step.maxAttempts } }, ...failure };

  const handlerStates = (kind: 'noinput' | 'nomatch'): Record<string, StateConfig> => {
    const h = step[kind];
    const after: TransitionConfig[] = [exhausted];
    if (h.goto) after.push({ target: stepTarget(h.goto) });
    after.push({ target: h.prompts.length > 0 ? `${kind}Prompt` : 'prompt' });
    const states: Record<string, StateConfig> = {
      [kind]: { entry: { type: 'collectFailed', params: { kind } }, always: after },
    };
    if (h.prompts.length > 0) {
      states[`${kind}Prompt`] = {
        invoke: {
          src: 'play',
          input: promptInput(
            h.prompts,
            (c) => (kind === 'noinput' ? c.collect.noinput : c.collect.nomatch),
            step.bargeIn,
            step.bargeInSpeech,
          ),
          onDone: 'prompt',
          onError: errorTransitions(step, cc),
        },
        on: { DTMF: step.bargeIn ? dtmfToDigits : { actions: [] } },
      };
    }
    return states;
  };

  const speech = step.input !== 'dtmf';
  // With speech input, last_input_mode tells the flow which one answered.
  const store = {
    type: 'collectStore',
    params: speech ? { variable: step.variable, mode: 'dtmf' } : { variable: step.variable },
  };
  const evaluate: TransitionConfig[] = [{ guard: 'collectEmpty', target: 'noinput' }];
  const valid = {
    type: 'collectValid',
    params: {
      min: step.minDigits,
      max: step.maxDigits,
      pattern: step.pattern === null ? null : new RegExp(`^(?:${step.pattern})$`),
    },
  };
  if (step.choices) {
    for (const [digits, target] of Object.entries(step.choices)) {
      evaluate.push({
        guard: { type: 'collectValid', params: { ...valid.params, digits } },
        target: stepTarget(target),
        actions: store,
      });
    }
  } else {
    evaluate.push({ guard: valid, target: 'matched', actions: store });
  }
  evaluate.push({ target: 'nomatch' });

  return stepState(step, cc, {
    entry: [{ type: 'collectInit', params: { bargeIn: step.bargeIn } }],
    initial: 'start',
    states: {
      // Type-ahead from a barge-in play counts as input already given (VoiceXML §4.1.8).
      start: { always: [{ guard: 'collectHasInput', target: 'digits' }, { target: 'prompt' }] },
      prompt:
        step.prompts.length > 0
          ? {
              entry: 'collectClear',
              invoke: {
                src: 'play',
                input: promptInput(step.prompts, (c) => c.collect.attempt, step.bargeIn, step.bargeInSpeech),
                onDone: 'waitFirst',
                onError: errorTransitions(step, cc),
              },
              on: { DTMF: step.bargeIn ? dtmfToDigits : { actions: [] } },
            }
          : { entry: 'collectClear', always: 'waitFirst' },
      waitFirst: speech
        ? {
            // The recogniser's own no-input timer runs in the worker: talk under way when it
            // expires is not a no_input. With input both, a key stops the recognition.
            invoke: {
              src: 'listen',
              input: listenInput(step),
              onDone: [
                {
                  guard: { type: 'speechRecognized', params: { minConfidence: step.speech.minConfidence } },
                  target: 'speechMatched',
                  actions: { type: 'speechStore', params: { variable: step.variable } },
                },
                { guard: 'speechNoInput', target: 'noinput', actions: 'speechHeard' },
                { target: 'nomatch', actions: 'speechHeard' },
              ],
              onError: errorTransitions(step, cc),
            },
            on: { DTMF: step.input === 'both' ? dtmfToDigits : { actions: [] } },
          }
        : {
            after: { [step.firstDigitTimeoutMs]: 'evaluate' },
            on: { DTMF: dtmfToDigits },
          },
      ...(speech ? { speechMatched: { always: nextTransitions(step) } } : {}),
      digits: {
        always: [{ guard: { type: 'collectComplete', params: { max: step.maxDigits } }, target: 'evaluate' }],
        after: { [step.interDigitTimeoutMs]: 'evaluate' },
        on: { DTMF: { ...dtmfToDigits, reenter: true } },
      },
      evaluate: { always: evaluate },
      ...(step.choices ? {} : { matched: { always: nextTransitions(step) } }),
      ...handlerStates('noinput'),
      ...handlerStates('nomatch'),
    },
  });
}
