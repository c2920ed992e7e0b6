/**
 * `flows test`: runs a flow against a scripted caller on a simulated clock, without RTP. A script
 * (YAML) has one or more scenarios: caller actions at absolute times or relative to entering a
 * step (digits, talking, silence, hangup), HTTP answers, and expectations on the steps taken, the
 * outcome, variables, what was played, HTTP requests and recordings.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FlowService } from '../FlowService.ts';
import { loadFlowFile } from '../loader.ts';
import { formatProblem } from '../types.ts';
import type { FlowEvents } from '../events.ts';
import { FakeEngines, defaultDuration, type BotRule, type HttpRule } from './FakeEngines.ts';
import { ManualClock } from './ManualClock.ts';

export interface CallerAction {
  at?: number;
  on_step?: string;
  /** With on_step: the nth entry of that step (default 1). */
  occurrence?: number;
  after_ms?: number;
  dtmf?: string;
  talk_ms?: number;
  /** Says this (what a recogniser would transcribe; '' for words it cannot make out), for talk_ms (default 1000). */
  speech?: string;
  /** The recogniser's confidence in `speech` (default 0.9). */
  confidence?: number;
  silence?: boolean;
  hangup?: boolean;
  end_membership?: boolean;
}

export interface Scenario {
  name?: string;
  variables?: Record<string, unknown>;
  endpoint_id?: string;
  durations?: Record<string, number>;
  http?: HttpRule[];
  /** Scripted voice bots for `stream` steps. */
  bots?: BotRule[];
  caller?: CallerAction[];
  timeout_ms?: number;
  expect?: {
    steps?: string[];
    steps_include?: string[];
    outcome?: unknown;
    status?: 'completed' | 'failed' | 'stopped';
    variables?: Record<string, unknown>;
    played?: string[];
    played_include?: string[];
    http_requests?: Array<{ method?: string; url?: string; body?: unknown }>;
    recordings?: Array<{ cause?: string; path?: string }>;
    /** Streams handed to bots: url, parameters, the reason each ended, digits forwarded. */
    streams?: Array<{ url?: string; parameters?: Record<string, string>; reason?: string; digits?: string }>;
    error_code?: string;
    max_duration_ms?: number;
  };
}

export interface ScenarioReport {
  name: string;
  passed: boolean;
  failures: string[];
  log: string[];
  steps: string[];
  outcome: unknown;
  durationMs: number;
}

export interface ScriptReport {
  flow: string;
  passed: boolean;
  problems: string[];
  scenarios: ScenarioReport[];
}

function fmtTime(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(8)}s`;
}

/** Partial deep match: every key of `expected` must match; arrays match element-wise. */
export function partialMatch(actual: unknown, expected: unknown, at = ''): string | null {
  if (expected === null || typeof expected !== 'object') {
    return actual === expected
      ? null
      : `${at || 'value'}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${at || 'value'}: expected a list, got ${JSON.stringify(actual)}`;
    if (actual.length !== expected.length)
      return `${at || 'value'}: expected ${expected.length} item(s), got ${actual.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const m = partialMatch(actual[i], expected[i], `${at}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (actual === null || typeof actual !== 'object')
    return `${at || 'value'}: expected an object, got ${JSON.stringify(actual)}`;
  for (const [k, v] of Object.entries(expected)) {
    const m = partialMatch((actual as Record<string, unknown>)[k], v, at ? `${at}.${k}` : k);
    if (m) return m;
  }
  return null;
}

function includesInOrder(actual: readonly string[], wanted: readonly string[]): boolean {
  let i = 0;
  for (const a of actual) if (i < wanted.length && a === wanted[i]) i++;
  return i === wanted.length;
}

async function runScenario(flowFile: string, flowName: string, sc: Scenario, index: number): Promise<ScenarioReport> {
  const clock = new ManualClock();
  const durations = sc.durations ?? {};
  const engines = new FakeEngines({
    clock,
    http: sc.http ?? [],
    bots: sc.bots ?? [],
    durationOf: (item) => durations[item] ?? defaultDuration(item),
  });
  const endpointId = sc.endpoint_id ?? 'test-endpoint';
  const log: string[] = [];
  const steps: string[] = [];
  const failures: string[] = [];
  const stepSeen = new Map<string, number>();
  const name = sc.name ?? `scenario ${index + 1}`;

  const perform = (a: CallerAction): void => {
    if (a.dtmf !== undefined) {
      log.push(`${fmtTime(clock.now())}  caller presses ${a.dtmf}`);
      engines.sendDtmf(endpointId, String(a.dtmf));
    }
    if (a.speech !== undefined) {
      log.push(`${fmtTime(clock.now())}  caller says "${a.speech}"`);
      engines.speak(endpointId, String(a.speech), a.talk_ms ?? 1000, a.confidence ?? 0.9);
    } else if (a.talk_ms !== undefined) {
      log.push(`${fmtTime(clock.now())}  caller talks for ${a.talk_ms} ms`);
      engines.talk(endpointId, a.talk_ms);
    }
    if (a.silence) {
      log.push(`${fmtTime(clock.now())}  caller is silent`);
      engines.talk(endpointId, 0);
    }
    if (a.end_membership) {
      log.push(`${fmtTime(clock.now())}  conference/bridge ends`);
      engines.endMembership(endpointId);
    }
    if (a.hangup) {
      log.push(`${fmtTime(clock.now())}  caller hangs up`);
      engines.hangupCaller(endpointId);
    }
  };
  const relative = (sc.caller ?? []).filter((a) => a.on_step !== undefined);
  const service = new FlowService({
    engines,
    dir: path.dirname(flowFile),
    emit: (type, payload) => {
      if (type === 'flow.step') {
        const p = payload as FlowEvents['flow.step'];
        const label = p.subflow ? `${String(p.subflow)}/${String(p.step)}` : String(p.step);
        steps.push(label);
        log.push(`${fmtTime(clock.now())}  step ${label} (${p.step_type})`);
        const n = (stepSeen.get(label) ?? 0) + 1;
        stepSeen.set(label, n);
        for (const a of relative)
          if (a.on_step === label && (a.occurrence ?? 1) === n) clock.setTimeout(() => perform(a), a.after_ms ?? 0);
      } else if (type === 'flow.completed') {
        const p = payload as FlowEvents['flow.completed'];
        log.push(`${fmtTime(clock.now())}  completed: ${JSON.stringify(p.outcome)}`);
      } else if (type === 'flow.failed') {
        const p = payload as FlowEvents['flow.failed'];
        log.push(`${fmtTime(clock.now())}  FAILED: ${JSON.stringify(p.error)}`);
      }
    },
  });
  try {
    service.loadDir();
    for (const a of sc.caller ?? []) if (a.on_step === undefined) clock.setTimeout(() => perform(a), a.at ?? 0);
    const session = service.start(endpointId, flowName, sc.variables ?? {});
    const limit = sc.timeout_ms ?? 3_600_000;
    let finished = false;
    void session.done.then(() => {
      finished = true;
    });
    await clock.settle();
    while (!finished) {
      const next = clock.nextAt();
      if (next === null) {
        failures.push(
          `the flow is still running in step '${session.currentStep ?? '?'}' and waits for something the script never does (hang up, a digit...)`,
        );
        break;
      }
      if (next > limit) {
        failures.push(
          `the flow is still running after ${limit} ms (simulated), in step '${session.currentStep ?? '?'}'`,
        );
        break;
      }
      await clock.advanceTo(next);
    }
    if (!finished) session.stop();
    await clock.settle();

    const x = sc.expect ?? {};
    if (x.steps && JSON.stringify(x.steps) !== JSON.stringify(steps))
      failures.push(`steps: expected ${x.steps.join(' → ')}\n           got      ${steps.join(' → ')}`);
    if (x.steps_include && !includesInOrder(steps, x.steps_include))
      failures.push(`steps: expected to include, in order, ${x.steps_include.join(' → ')}; got ${steps.join(' → ')}`);
    if (x.status && session.status !== x.status)
      failures.push(
        `status: expected ${x.status}, got ${session.status}${session.error ? ` (${session.error.code}: ${session.error.message})` : ''}`,
      );
    if (x.outcome !== undefined) {
      const m = partialMatch(session.outcome, x.outcome, 'outcome');
      if (m) failures.push(m);
    }
    if (x.error_code !== undefined && session.error?.code !== x.error_code)
      failures.push(`error code: expected ${x.error_code}, got ${session.error?.code ?? 'none'}`);
    if (x.variables) {
      const m = partialMatch(session.variables, x.variables, 'variables');
      if (m) failures.push(m);
    }
    const played = engines.calls
      .filter((c) => c.kind === 'play' || c.kind === 'say')
      .flatMap((c) => (c.kind === 'say' ? [`tts:${c.args[0] ?? ''}`] : c.args));
    if (x.played && JSON.stringify(x.played) !== JSON.stringify(played))
      failures.push(`played: expected ${JSON.stringify(x.played)}\n            got      ${JSON.stringify(played)}`);
    if (x.played_include && !includesInOrder(played, x.played_include))
      failures.push(
        `played: expected to include, in order, ${JSON.stringify(x.played_include)}; got ${JSON.stringify(played)}`,
      );
    if (x.http_requests) {
      const reqs = engines.requests.map((r) => ({
        method: r.method,
        url: r.url,
        body: r.body === undefined ? undefined : tryJson(r.body),
      }));
      const m = partialMatch(reqs, x.http_requests, 'http_requests');
      if (m) failures.push(m);
    }
    if (x.recordings) {
      const recs = engines.calls.filter((c) => c.kind === 'record').map((c) => ({ path: c.args[0], cause: c.result }));
      const m = partialMatch(recs, x.recordings, 'recordings');
      if (m) failures.push(m);
    }
    if (x.streams) {
      const streams = engines.streams.map((st, i) => ({
        url: st.options.url,
        parameters: st.options.parameters,
        reason: engines.calls.filter((c) => c.kind === 'stream')[i]?.result,
        digits: st.digits,
      }));
      const m = partialMatch(streams, x.streams, 'streams');
      if (m) failures.push(m);
    }
    if (x.max_duration_ms !== undefined && clock.now() > x.max_duration_ms)
      failures.push(`took ${clock.now()} ms (simulated), more than ${x.max_duration_ms}`);
    if (engines.activePlaybacks || engines.activeRecordings || engines.activeMemberships) {
      failures.push(
        `left running after the end: ${engines.activePlaybacks} playback(s), ${engines.activeRecordings} recording(s), ${engines.activeMemberships} conference/bridge/stream membership(s)`,
      );
    }
    if (engines.dtmfListeners) failures.push(`left ${engines.dtmfListeners} DTMF listener(s) subscribed after the end`);
    return {
      name,
      passed: failures.length === 0,
      failures,
      log,
      steps,
      outcome: session.outcome,
      durationMs: clock.now(),
    };
  } catch (err) {
    failures.push(`error: ${(err as Error).message}`);
    return { name, passed: false, failures, log, steps, outcome: null, durationMs: clock.now() };
  } finally {
    service.close();
  }
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** Runs every scenario of `scriptFile` against the flow in `flowFile`. */
export async function runScript(flowFile: string, scriptFile: string): Promise<ScriptReport> {
  const loaded = loadFlowFile(flowFile);
  if (!loaded.ok) return { flow: flowFile, passed: false, problems: loaded.errors.map(formatProblem), scenarios: [] };
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(scriptFile, 'utf8'));
  } catch (err) {
    return {
      flow: loaded.flow.name,
      passed: false,
      problems: [`${scriptFile}: ${(err as Error).message}`],
      scenarios: [],
    };
  }
  const d = (doc ?? {}) as Scenario & { scenarios?: Scenario[] };
  const list = Array.isArray(d.scenarios) ? d.scenarios.map((s) => ({ ...pickShared(d), ...s })) : [d];
  const scenarios: ScenarioReport[] = [];
  for (const [i, sc] of list.entries())
    scenarios.push(await runScenario(path.resolve(flowFile), loaded.flow.name, sc, i));
  return { flow: loaded.flow.name, passed: scenarios.every((s) => s.passed), problems: [], scenarios };
}

/** Settings at the top of a multi-scenario script apply to each scenario. */
function pickShared(d: Scenario): Scenario {
  const out: Scenario = {};
  if (d.variables) out.variables = d.variables;
  if (d.durations) out.durations = d.durations;
  if (d.http) out.http = d.http;
  if (d.endpoint_id) out.endpoint_id = d.endpoint_id;
  if (d.timeout_ms) out.timeout_ms = d.timeout_ms;
  return out;
}

/** Human-readable report; `verbose` adds each scenario's timeline. */
export function formatReport(r: ScriptReport, verbose = false): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`  ${p}`);
  for (const s of r.scenarios) {
    lines.push(
      `${s.passed ? 'PASS' : 'FAIL'}  ${r.flow}: ${s.name}  (${(s.durationMs / 1000).toFixed(1)} s simulated)`,
    );
    if (verbose || !s.passed) for (const l of s.log) lines.push(`    ${l}`);
    for (const f of s.failures) lines.push(`    ✗ ${f}`);
  }
  const passed = r.scenarios.filter((s) => s.passed).length;
  lines.push(
    `${r.passed ? 'ok' : 'FAILED'}: ${passed}/${r.scenarios.length} scenario(s) passed${r.problems.length ? `, ${r.problems.length} problem(s) in the flow` : ''}`,
  );
  return lines.join('\n');
}
