/**
 * 1,000 flow sessions waiting in `collect`: memory per session, timers and handles per session,
 * and proof that nothing ticks while they wait (no polling: only each session's one first-digit
 * timeout exists, and no timer fires during an idle window). Real clock, fake media engines.
 *
 *   node --expose-gc --import tsx bench/flow-sessions.ts [SESSIONS]
 */
import { FlowService } from '../src/flows/FlowService.ts';
import { systemClock, type FlowClock } from '../src/flows/FlowEngines.ts';
import { FakeEngines } from '../src/flows/testing/FakeEngines.ts';

const N = Number(process.argv[2] ?? 1000);
const IDLE_MS = 1000;

/** The system clock, counting timers created and fired. */
const counts = { set: 0, fired: 0, cleared: 0 };
const clock: FlowClock = {
  now: () => systemClock.now(),
  setTimeout: (fn, ms) => {
    counts.set++;
    return systemClock.setTimeout(() => {
      counts.fired++;
      fn();
    }, ms);
  },
  clearTimeout: (h) => {
    counts.cleared++;
    systemClock.clearTimeout(h);
  },
};

const FLOW = `
name: bench
start: ask
steps:
  ask:
    type: collect
    prompt: silence:0
    min_digits: 4
    max_digits: 4
    first_digit_timeout_ms: 60000
    inter_digit_timeout_ms: 3000
    variable: pin
    noinput: { prompt: prompt:again }
    max_attempts: 3
    next: done
  done: { type: return, values: { pin: pin } }
`;

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number {
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}
function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
const tick = () => new Promise<void>((r) => setImmediate(r));

async function main(): Promise<void> {
  const engines = new FakeEngines({ clock });
  const service = new FlowService({ engines });
  service.put('bench', FLOW);
  // Warm up once so module and machine setup are not counted per session.
  const warm = service.start('warm', 'bench');
  warm.stop();
  await warm.done;
  await tick();

  const heap0 = heap();
  const timers0 = timers();
  const t0 = performance.now();
  const sessions = [];
  for (let i = 0; i < N; i++) sessions.push(service.start(`ep-${i}`, 'bench'));
  const startMs = performance.now() - t0;
  // Let the zero-length prompts finish: every session is then waiting for its first digit.
  for (let i = 0; i < 5; i++) await tick();
  await new Promise((r) => setTimeout(r, 20));
  const waiting = sessions.filter((s) => s.currentStep === 'ask').length;
  const heap1 = heap();
  const timers1 = timers();

  const before = { ...counts };
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const firedIdle = counts.fired - before.fired;
  const setIdle = counts.set - before.set;

  // Everyone answers: completes all sessions and must leave nothing behind.
  const t1 = performance.now();
  for (let i = 0; i < N; i++) engines.sendDtmf(`ep-${i}`, '1234');
  await Promise.all(sessions.map((s) => s.done));
  const answerMs = performance.now() - t1;
  await tick();
  const timers2 = timers();
  const completed = sessions.filter((s) => s.outcome?.action === 'completed').length;

  const perSession = (heap1 - heap0) / N;
  const lines = [
    `flow sessions waiting in collect: ${N} (gc ${gc ? 'forced' : 'NOT available: run with --expose-gc for exact memory'})`,
    `  started in ${startMs.toFixed(1)} ms (${(N / (startMs / 1000)).toFixed(0)} sessions/s); waiting in collect: ${waiting}`,
    `  heap: ${(heap0 / 1048576).toFixed(1)} MiB → ${(heap1 / 1048576).toFixed(1)} MiB, ${(perSession / 1024).toFixed(1)} KiB per session`,
    `  active Timeout handles: ${timers0} → ${timers1} (${((timers1 - timers0) / N).toFixed(2)} per session: the first-digit timeout)`,
    `  during ${IDLE_MS} ms idle: ${firedIdle} timer callbacks fired, ${setIdle} timers created (per-tick work: ${firedIdle + setIdle === 0 ? 'none' : 'YES'})`,
    `  all answered in ${answerMs.toFixed(1)} ms; completed ${completed}/${N}; Timeout handles after: ${timers2}; DTMF listeners left: ${engines.dtmfListeners}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  service.close();
  if (waiting !== N || firedIdle !== 0 || completed !== N || engines.dtmfListeners !== 0) process.exitCode = 1;
}

await main();
