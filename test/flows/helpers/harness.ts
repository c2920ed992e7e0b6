/** Test harness: a FlowService over FakeEngines on a ManualClock, with events recorded. */
import { FlowService } from '../../../src/flows/FlowService.ts';
import { FakeEngines, type FakeEnginesOptions } from '../../../src/flows/testing/FakeEngines.ts';
import { ManualClock } from '../../../src/flows/testing/ManualClock.ts';

export interface RecordedEvent {
  at: number;
  type: string;
  payload: Record<string, unknown>;
}

export function harness(flows: Record<string, string>, opts: Omit<FakeEnginesOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const engines = new FakeEngines({ ...opts, clock });
  const events: RecordedEvent[] = [];
  const service = new FlowService({
    engines,
    emit: (type, payload) => events.push({ at: clock.now(), type, payload }),
  });
  for (const [name, yaml] of Object.entries(flows)) service.put(name, yaml);
  const steps = (): string[] =>
    events
      .filter((e) => e.type === 'flow.step')
      .map((e) =>
        String(e.payload.subflow ? `${String(e.payload.subflow)}/${String(e.payload.step)}` : e.payload.step),
      );
  const stepAt = (name: string): number | undefined =>
    events.find((e) => e.type === 'flow.step' && e.payload.step === name)?.at;
  const played = (): string[] => engines.calls.filter((c) => c.kind === 'play').flatMap((c) => c.args);
  const ended = (): RecordedEvent | undefined =>
    events.find((e) => e.type === 'flow.completed' || e.type === 'flow.failed');
  return { clock, engines, events, service, steps, stepAt, played, ended };
}
