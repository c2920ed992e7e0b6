/**
 * The flow runtime: a registry of compiled flows (loaded from a directory, uploaded over the API,
 * reloaded live when files change) and the sessions running them. A new version only affects
 * sessions started after it; a session keeps the compiled machine it started with. An invalid
 * file never replaces a valid version: it is reported (event `flow.invalid`, log, problems()).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { fsError } from '../common/safePath.ts';
import path from 'node:path';
import { InvalidStateError, NotFoundError, ValidationError } from '../common/errors.ts';
import { moduleLogger, silentLogger, type Logger } from '../common/logger.ts';
import type { SubflowInput } from './actors.ts';
import type { AnyStateMachine } from 'xstate';
import { compileFlow, type CompiledFlow } from './compiler.ts';
import type { FlowOutput } from './context.ts';
import { systemClock, type FlowEngines } from './FlowEngines.ts';
import { FlowRun, FlowSession, provideFlow, type RunHooks } from './FlowSession.ts';
import { crossCheck, loadFlowText, matchesType, readFlowSource } from './loader.ts';
import { formatProblem, type FlowDefinition, type FlowProblem } from './types.ts';
import type { FlowEmit } from './events.ts';

/** ValidationError carrying every problem found, each pointing at file:line:column. */
export class FlowValidationError extends ValidationError {
  readonly problems: FlowProblem[];
  constructor(problems: FlowProblem[], code = 'INVALID_FLOW') {
    super(code, problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** Where the flows' events go (control/events.ts merges FlowEvents into the public catalogue). */
export type EmitFn = FlowEmit;

export interface FlowServiceOptions {
  engines: FlowEngines;
  /** Event sink (the control plane's bus): flow.started, flow.step, flow.completed, flow.failed... */
  emit?: EmitFn;
  /** Directory of *.yaml flows; PUT/DELETE write there when set. */
  dir?: string;
  logger?: Logger;
  /** Finished sessions kept for GET /flow-sessions/:id. */
  keepFinished?: number;
  /** Deepest chain of `call` steps. */
  maxCallDepth?: number;
  /** Called before a new session starts; throws to refuse it (the server is draining). */
  admit?: () => void;
}

export interface FlowEntry {
  name: string;
  version: number;
  file: string | null;
  loadedAt: number;
  compiled: CompiledFlow;
}

export interface FlowInfo {
  name: string;
  description: string;
  version: number;
  file: string | null;
  loaded_at: string;
  start: string;
  steps: Array<{ name: string; type: string }>;
  variables: Record<string, { type: string | null; default: unknown; required: boolean; description: string | null }>;
  warnings: string[];
}

const RELOAD_DEBOUNCE_MS = 50;

export class FlowService {
  readonly #engines: FlowEngines;
  readonly #emit: EmitFn;
  readonly #dir: string | null;
  readonly #log: Logger;
  readonly #keepFinished: number;
  readonly #maxDepth: number;
  readonly #flows = new Map<string, FlowEntry>();
  /** file → flow name it defined, to handle renames and deletions. */
  readonly #fileNames = new Map<string, string>();
  readonly #sessions = new Map<string, FlowSession>();
  readonly #byEndpoint = new Map<string, FlowSession>();
  readonly #problems = new Map<string, FlowProblem[]>();
  #watcher: fs.FSWatcher | null = null;
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #versionSeq = 0;
  #closed = false;
  readonly #admit: () => void;
  /** Machines with engines and hooks injected, one per compiled flow version. */
  readonly #machines = new WeakMap<CompiledFlow, AnyStateMachine>();
  readonly #hooks: RunHooks;

  constructor(opts: FlowServiceOptions) {
    this.#engines = opts.engines;
    this.#admit = opts.admit ?? (() => {});
    this.#emit = opts.emit ?? (() => {});
    this.#dir = opts.dir ? path.resolve(opts.dir) : null;
    this.#log = moduleLogger(opts.logger ?? silentLogger, 'flows');
    this.#keepFinished = opts.keepFinished ?? 1000;
    this.#maxDepth = opts.maxCallDepth ?? 8;
    this.#hooks = {
      logger: this.#log,
      onStep: (sessionId, flow, step, type) => {
        const session = this.#sessions.get(sessionId);
        if (!session) return;
        session.recordStep(step, type, flow, this.#now);
        this.#emit('flow.step', {
          session_id: sessionId,
          flow: session.flowName,
          endpoint_id: session.endpointId,
          step,
          step_type: type,
          ...(flow !== session.flowName ? { subflow: flow } : {}),
        });
      },
    };
  }

  #machineFor(compiled: CompiledFlow): AnyStateMachine {
    let m = this.#machines.get(compiled);
    if (!m) {
      m = provideFlow(compiled, this.#engines, (input, signal) => this.#runSubflow(input, signal), this.#hooks);
      this.#machines.set(compiled, m);
    }
    return m;
  }

  get #now(): number {
    return (this.#engines.clock ?? systemClock).now();
  }

  // ---- registry ---------------------------------------------------------------------------

  /** Loads every *.yaml / *.yml of the directory; returns the problems of files left out. */
  loadDir(): { loaded: string[]; problems: FlowProblem[] } {
    if (!this.#dir) return { loaded: [], problems: [] };
    const loaded: string[] = [];
    const problems: FlowProblem[] = [];
    const files = fs
      .readdirSync(this.#dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    for (const f of files) {
      const r = this.#loadFile(path.join(this.#dir, f));
      if (r.ok) loaded.push(r.name);
      else problems.push(...r.problems);
    }
    const defs = [...this.#flows.values()].map((e) => e.compiled.definition);
    for (const p of crossCheck(defs)) {
      this.#log.warn({ problem: formatProblem(p) }, 'flow cross-check');
      problems.push(p);
    }
    return { loaded, problems };
  }

  /** Watches the directory; changed files reload (debounced), removed files unload. */
  watch(): void {
    if (!this.#dir || this.#watcher) return;
    this.#watcher = fs.watch(this.#dir, (_event, filename) => {
      if (!filename || !/\.ya?ml$/.test(filename.toString())) return;
      const file = path.join(this.#dir!, filename.toString());
      // Editors write in several steps (truncate, write, rename): settle before reading.
      const prev = this.#pending.get(file);
      if (prev) clearTimeout(prev);
      this.#pending.set(
        file,
        setTimeout(() => {
          this.#pending.delete(file);
          if (this.#closed) return;
          if (fs.existsSync(file)) this.#loadFile(file);
          else this.#unloadFile(file);
        }, RELOAD_DEBOUNCE_MS),
      );
    });
    this.#watcher.on('error', (err) => this.#log.error({ err }, 'flow directory watch failed'));
  }

  #loadFile(file: string): { ok: true; name: string } | { ok: false; problems: FlowProblem[] } {
    const src = readFlowSource(file);
    if (!src.ok) {
      const problems = [src.problem];
      this.#reportInvalid(file, problems);
      return { ok: false, problems };
    }
    const rel = this.#dir ? path.relative(process.cwd(), file) || file : file;
    const r = loadFlowText(src.text, rel);
    if (!r.ok) {
      this.#reportInvalid(file, r.errors);
      return { ok: false, problems: r.errors };
    }
    const prevName = this.#fileNames.get(file);
    if (prevName !== undefined && prevName !== r.flow.name && this.#flows.get(prevName)?.file === file) {
      this.#flows.delete(prevName);
      this.#emit('flow.removed', { name: prevName });
    }
    this.#fileNames.set(file, r.flow.name);
    this.#problems.delete(file);
    this.#register(r.flow, file);
    return { ok: true, name: r.flow.name };
  }

  #unloadFile(file: string): void {
    const name = this.#fileNames.get(file);
    this.#fileNames.delete(file);
    this.#problems.delete(file);
    if (name !== undefined && this.#flows.get(name)?.file === file) {
      this.#flows.delete(name);
      this.#log.info({ flow: name, file }, 'flow removed');
      this.#emit('flow.removed', { name });
    }
  }

  #reportInvalid(file: string, problems: FlowProblem[]): void {
    this.#problems.set(file, problems);
    const kept = this.#fileNames.get(file);
    this.#log.warn(
      { file, problems: problems.map(formatProblem), kept_version: kept ? this.#flows.get(kept)?.version : undefined },
      'invalid flow file ignored',
    );
    this.#emit('flow.invalid', { file, flow: kept ?? null, errors: problems.map(formatProblem) });
  }

  #register(def: FlowDefinition, file: string | null): FlowEntry {
    const prev = this.#flows.get(def.name);
    if (prev && prev.compiled.definition.source === def.source) return prev;
    const entry: FlowEntry = {
      name: def.name,
      version: ++this.#versionSeq,
      file,
      loadedAt: this.#now,
      compiled: compileFlow(def),
    };
    this.#flows.set(def.name, entry);
    for (const w of def.warnings) this.#log.warn({ flow: def.name }, formatProblem(w));
    this.#log.info({ flow: def.name, version: entry.version, file }, prev ? 'flow reloaded' : 'flow loaded');
    this.#emit('flow.loaded', { name: def.name, version: entry.version, file });
    return entry;
  }

  /** Validates and compiles YAML text; throws FlowValidationError listing every problem. */
  validate(text: string, file = '<input>'): FlowDefinition {
    const r = loadFlowText(text, file);
    if (!r.ok) throw new FlowValidationError(r.errors);
    return r.flow;
  }

  /**
   * Adds or replaces a flow from YAML (the API's PUT). The YAML `name` must equal `name`. With a
   * directory the file is written too (atomically), so the version survives restarts.
   */
  put(name: string, text: string): FlowInfo {
    const file = this.#dir ? path.join(this.#dir, `${name}.yaml`) : null;
    const def = this.validate(text, file ? path.relative(process.cwd(), file) || file : `${name}.yaml`);
    if (def.name !== name) {
      throw new FlowValidationError([
        {
          file: def.file,
          line: 1,
          column: 1,
          message: `the flow's name is '${def.name}' but it is uploaded as '${name}'`,
        },
      ]);
    }
    if (file) {
      // A new temporary file (O_EXCL: never an existing file or link, which it would write
      // through), then rename, which replaces a link at `file` rather than its target.
      const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const fd = fs.openSync(
          tmp,
          fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
          0o644,
        );
        try {
          fs.writeFileSync(fd, text);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, file);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        // a full disk is 507, a link in the way 400; anything else (EACCES, EROFS) names the directory
        const mapped = fsError(err, `${name}.yaml`);
        throw mapped !== err ? mapped : notWritable(this.#dir!, err);
      }
      this.#fileNames.set(file, name);
    }
    return this.#info(this.#register(def, file));
  }

  /** Removes a flow (and its file); running sessions keep their version. */
  delete(name: string): void {
    const e = this.#flows.get(name);
    if (!e) throw new NotFoundError('FLOW_NOT_FOUND', `no flow named '${name}'`);
    if (e.file) {
      try {
        fs.rmSync(e.file, { force: true });
      } catch (err) {
        throw notWritable(this.#dir ?? path.dirname(e.file), err);
      }
      this.#fileNames.delete(e.file);
    }
    this.#flows.delete(name);
    this.#emit('flow.removed', { name });
  }

  list(): FlowInfo[] {
    return [...this.#flows.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => this.#info(e));
  }

  get(name: string): FlowInfo {
    return this.#info(this.#entry(name));
  }

  source(name: string): string {
    return this.#entry(name).compiled.definition.source;
  }

  compiled(name: string): CompiledFlow {
    return this.#entry(name).compiled;
  }

  /** Files that failed to load and are not in use, with their problems. */
  problems(): FlowProblem[] {
    return [...this.#problems.values()].flat();
  }

  #entry(name: string): FlowEntry {
    const e = this.#flows.get(name);
    if (!e) throw new NotFoundError('FLOW_NOT_FOUND', `no flow named '${name}'`);
    return e;
  }

  #info(e: FlowEntry): FlowInfo {
    const d = e.compiled.definition;
    return {
      name: d.name,
      description: d.description,
      version: e.version,
      file: e.file,
      loaded_at: new Date(e.loadedAt).toISOString(),
      start: d.start,
      steps: Object.values(d.steps).map((s) => ({ name: s.name, type: 'sourceType' in s ? s.sourceType : s.type })),
      variables: Object.fromEntries(Object.entries(d.variables).map(([k, v]) => [k, { ...v }])),
      warnings: d.warnings.map(formatProblem),
    };
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** Hands an endpoint to a flow. Throws NotFoundError / InvalidStateError / ValidationError. */
  start(endpointId: string, flowName: string, variables: Record<string, unknown> = {}): FlowSession {
    if (this.#closed) throw new InvalidStateError('SERVICE_CLOSED', 'the flow service is closed');
    this.#admit();
    const entry = this.#entry(flowName);
    if (this.#engines.endpointExists && !this.#engines.endpointExists(endpointId)) {
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `no endpoint '${endpointId}'`);
    }
    const running = this.#byEndpoint.get(endpointId);
    if (running && running.status === 'running') {
      throw new InvalidStateError(
        'FLOW_ALREADY_RUNNING',
        `endpoint '${endpointId}' is already running flow '${running.flowName}' (session ${running.id})`,
      );
    }
    this.#checkVariables(entry.compiled.definition, variables);
    const id = randomUUID();
    const session = new FlowSession(id, flowName, entry.version, endpointId, this.#now);
    const base = { session_id: id, flow: flowName, endpoint_id: endpointId };
    // Registered before the run starts so the first step's notification finds it.
    this.#sessions.set(id, session);
    this.#byEndpoint.set(endpointId, session);
    const run = new FlowRun(
      this.#machineFor(entry.compiled),
      { flowName, endpointId, sessionId: id, depth: 0, variables },
      this.#engines.clock,
    );
    session.attach(run);
    void run.done.then((out) => this.#ended(session, out));
    this.#emit('flow.started', { ...base, version: entry.version, variables });
    run.start();
    return session;
  }

  #checkVariables(def: FlowDefinition, vars: Record<string, unknown>): void {
    const problems: FlowProblem[] = [];
    for (const [k, d] of Object.entries(def.variables)) {
      const v = vars[k];
      if (v === undefined) {
        if (d.required) problems.push({ file: def.file, line: 1, column: 1, message: `variable '${k}' is required` });
      } else if (d.type && v !== null && !matchesType(v, d.type)) {
        problems.push({ file: def.file, line: 1, column: 1, message: `variable '${k}' must be ${d.type}` });
      }
    }
    if (problems.length) throw new FlowValidationError(problems, 'INVALID_VARIABLES');
  }

  #runSubflow(input: SubflowInput, signal: AbortSignal): Promise<FlowOutput> {
    if (input.depth > this.#maxDepth)
      return Promise.reject(new Error(`call depth over ${this.#maxDepth} (a flow calling itself?)`));
    const entry = this.#flows.get(input.flow);
    if (!entry) return Promise.reject(new NotFoundError('FLOW_NOT_FOUND', `subflow '${input.flow}' is not loaded`));
    const run = new FlowRun(
      this.#machineFor(entry.compiled),
      {
        flowName: input.flow,
        endpointId: input.endpointId,
        sessionId: input.sessionId,
        depth: input.depth,
        variables: input.variables,
      },
      this.#engines.clock,
    );
    signal.addEventListener('abort', () => run.stop(), { once: true });
    // XState starts invoked actors before the parent's entry actions have run; deferring the
    // child keeps flow.step events in order (parent step, then the subflow's first step).
    queueMicrotask(() => {
      if (!signal.aborted) run.start();
    });
    return run.done;
  }

  #ended(session: FlowSession, out: FlowOutput): void {
    session.end(out, this.#now);
    if (this.#byEndpoint.get(session.endpointId) === session) this.#byEndpoint.delete(session.endpointId);
    const base = { session_id: session.id, flow: session.flowName, endpoint_id: session.endpointId };
    if (out.outcome) {
      this.#emit('flow.completed', { ...base, outcome: out.outcome, variables: out.variables });
    } else {
      const error = out.error ?? { code: 'FLOW_FAILED', message: 'flow failed', step: null };
      this.#log.warn({ ...base, error }, 'flow failed');
      this.#emit('flow.failed', { ...base, error, variables: out.variables });
    }
    // Keep a bounded number of finished sessions for inspection.
    let finished = 0;
    for (const s of this.#sessions.values()) if (s.status !== 'running') finished++;
    for (const [id, s] of this.#sessions) {
      if (finished <= this.#keepFinished) break;
      if (s.status !== 'running') {
        this.#sessions.delete(id);
        finished--;
      }
    }
  }

  getSession(id: string): FlowSession {
    const s = this.#sessions.get(id);
    if (!s) throw new NotFoundError('FLOW_SESSION_NOT_FOUND', `no flow session '${id}'`);
    return s;
  }

  listSessions(): FlowSession[] {
    return [...this.#sessions.values()];
  }

  /** The running session on an endpoint, if any. */
  sessionForEndpoint(endpointId: string): FlowSession | undefined {
    return this.#byEndpoint.get(endpointId);
  }

  stopSession(id: string): FlowSession {
    const s = this.getSession(id);
    s.stop();
    return s;
  }

  /** Stops watching and every running session. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    for (const t of this.#pending.values()) clearTimeout(t);
    this.#pending.clear();
    for (const s of this.#sessions.values()) s.stop();
  }
}

/** A flows directory we cannot write (read-only mount, another owner): say which and why. */
function notWritable(dir: string, err: unknown): InvalidStateError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new InvalidStateError(
    'FLOWS_DIR_NOT_WRITABLE',
    `cannot write the flows directory ${dir} (${code}); make it writable by the server's user or upload flows elsewhere`,
  );
}
