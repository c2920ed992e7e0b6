/**
 * `http`: a webhook or data fetch (VoiceXML `<data>`/`<subdialog src>` in spirit). The actor does
 * the attempts with exponential backoff on the flow clock; a 2xx response is exposed as
 * `response` ({status, body, headers}) to `assign`, stored in `result`, and `next` may branch on
 * it. When every attempt failed the step takes `fallback`, else on_error.
 */
import type { HttpStep } from '../types.ts';
import { renderJson, renderText, scopeOf, toPlain, type FlowContext } from '../context.ts';
import {
  errorTarget,
  nextTransitions,
  stepState,
  stepTarget,
  type CompileContext,
  type StateConfig,
  type TransitionConfig,
} from './common.ts';

export function compileHttp(step: HttpStep, cc: CompileContext): StateConfig {
  const store = { type: 'storeHttp', params: { result: step.result, assign: step.assign } };
  const failed: TransitionConfig[] = [{ guard: 'isHungUp', target: '#flow.__hangup' }];
  if (step.fallback) failed.push({ target: stepTarget(step.fallback), actions: store });
  failed.push({
    target: errorTarget(step, cc),
    actions: [store, { type: 'setError', params: { step: step.name, code: 'HTTP_FAILED' } }],
  });
  return stepState(step, cc, {
    initial: 'requesting',
    states: {
      requesting: {
        invoke: {
          src: 'http',
          input: ({ context }: { context: FlowContext }) => {
            const scope = scopeOf(context);
            let body: string | undefined;
            if (step.body) {
              const v = renderJson(step.body, scope);
              body = step.bodyIsText ? String(v) : JSON.stringify(toPlain(v));
            }
            const headers: Record<string, string> = {};
            if (body !== undefined && !step.bodyIsText) headers['content-type'] = 'application/json';
            for (const [k, t] of step.headers) headers[k.toLowerCase()] = renderText(t, context);
            return {
              method: step.method,
              url: renderText(step.url, context),
              headers,
              body,
              timeoutMs: step.timeoutMs,
              retries: step.retries,
              backoffMs: step.backoffMs,
            };
          },
          onDone: [{ guard: 'httpOk', target: 'done', actions: store }, ...failed],
          onError: failed,
        },
      },
      done: { always: nextTransitions(step) },
    },
  });
}
