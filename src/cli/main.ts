/**
 * `media-server` command line. Flow authoring tools:
 *   media-server flows validate [FILES...]             (default: every flow in FLOWS_DIR or flows/)
 *   media-server flows graph NAME|FILE [--format mermaid|dot]
 *   media-server flows test FILE --script SCRIPT.yaml [--verbose]
 * and clients of a running server (cli/events.ts, cli/call.ts):
 *   media-server events [--since SEQ] [--types a.*,b]
 *   media-server call FLOW [--digits 12#] [--out FILE.wav] [--var k=v]
 * Exit code 0 when everything is fine, 1 on problems, 2 on usage errors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileFlow } from '../flows/compiler.ts';
import { flowGraph, toDot, toMermaid } from '../flows/graph.ts';
import { crossCheck, loadFlowFile } from '../flows/loader.ts';
import { formatReport, runScript } from '../flows/testing/runScript.ts';
import { formatProblem, type FlowDefinition } from '../flows/types.ts';
import { ApiClient, ApiCallError, apiTarget } from './ApiClient.ts';
import { callFlow } from './call.ts';
import { tailEvents } from './events.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE = `usage:
  media-server flows validate [FILES...]
  media-server flows graph NAME|FILE [--format mermaid|dot]
  media-server flows test FILE --script SCRIPT.yaml [--verbose]
  media-server events [--since SEQ] [--types TYPE,PREFIX.*] [--limit N]
  media-server call FLOW [--digits DIGITS] [--wait MS] [--gap MS] [--out FILE.wav]
                         [--var NAME=VALUE]... [--max-seconds S]

FLOWS_DIR (default ./flows) is where names and default files are looked up.
events and call talk to a running server: --url (MEDIA_SERVER_URL, default
http://127.0.0.1:API_PORT) and --token (API_TOKEN).`;

function flowsDir(): string {
  return process.env.FLOWS_DIR || 'flows';
}

function defaultFiles(): string[] {
  const dir = flowsDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function takeOption(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  const a = args[i]!;
  if (a.includes('=')) {
    args.splice(i, 1);
    return a.slice(name.length + 1);
  }
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

function takeFlag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}

function validate(files: string[], io: Io): number {
  const list = files.length > 0 ? files : defaultFiles();
  if (list.length === 0) {
    io.err(`no flow files given and none found in ${flowsDir()}/`);
    return 1;
  }
  let bad = 0;
  const defs: FlowDefinition[] = [];
  for (const f of list) {
    const r = loadFlowFile(f);
    if (r.ok) {
      defs.push(r.flow);
      io.out(`ok    ${f}  (${r.flow.name}, ${Object.keys(r.flow.steps).length} steps)`);
      for (const w of r.flow.warnings) io.out(`  warning: ${formatProblem(w)}`);
    } else {
      bad++;
      io.out(`FAIL  ${f}`);
      for (const e of r.errors) io.out(`  ${formatProblem(e)}`);
    }
  }
  // `call` targets are looked up among the files given plus the flows directory.
  const known = new Map(defs.map((d) => [d.name, d]));
  for (const f of defaultFiles()) {
    if (list.some((l) => path.resolve(l) === path.resolve(f))) continue;
    const r = loadFlowFile(f);
    if (r.ok && !known.has(r.flow.name)) known.set(r.flow.name, r.flow);
  }
  const cross = crossCheck([...known.values()]).filter((p) => defs.some((d) => d.file === p.file));
  for (const p of cross) io.out(`  ${formatProblem(p)}`);
  const failed = bad + (cross.length > 0 ? 1 : 0);
  io.out(
    failed === 0
      ? `${list.length} flow(s) valid`
      : `${bad} of ${list.length} flow(s) invalid${cross.length ? `, ${cross.length} cross-flow problem(s)` : ''}`,
  );
  return failed === 0 ? 0 : 1;
}

function resolveFlowFile(nameOrFile: string): string | null {
  if (fs.existsSync(nameOrFile) && fs.statSync(nameOrFile).isFile()) return nameOrFile;
  for (const f of defaultFiles()) {
    if (path.basename(f).replace(/\.ya?ml$/, '') === nameOrFile) return f;
    const r = loadFlowFile(f);
    if (r.ok && r.flow.name === nameOrFile) return f;
  }
  return null;
}

function graph(args: string[], io: Io): number {
  const format = takeOption(args, '--format') ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot') {
    io.err(`unknown format '${format}' (mermaid or dot)`);
    return 2;
  }
  const target = args[0];
  if (!target) {
    io.err(USAGE);
    return 2;
  }
  const file = resolveFlowFile(target);
  if (!file) {
    io.err(`no flow '${target}' (neither a file nor a flow in ${flowsDir()}/)`);
    return 1;
  }
  const r = loadFlowFile(file);
  if (!r.ok) {
    for (const e of r.errors) io.err(formatProblem(e));
    return 1;
  }
  const g = flowGraph(compileFlow(r.flow));
  io.out((format === 'dot' ? toDot(g) : toMermaid(g)).trimEnd());
  return 0;
}

async function test(args: string[], io: Io): Promise<number> {
  const script = takeOption(args, '--script');
  const verbose = takeFlag(args, '--verbose') || takeFlag(args, '-v');
  const file = args[0];
  if (!file || !script) {
    io.err(USAGE);
    return 2;
  }
  const flowFile = resolveFlowFile(file);
  if (!flowFile) {
    io.err(`no flow file '${file}'`);
    return 1;
  }
  if (!fs.existsSync(script)) {
    io.err(`no script file '${script}'`);
    return 1;
  }
  const report = await runScript(flowFile, script);
  io.out(formatReport(report, verbose));
  return report.passed ? 0 : 1;
}

function intOption(args: string[], name: string, def: number): number | null {
  const raw = takeOption(args, name);
  if (raw === undefined) return def;
  return /^\d+$/.test(raw) ? Number(raw) : null;
}

/** `events` and `call`: clients of a running server; Ctrl-C ends them cleanly. */
async function client(cmd: 'events' | 'call', args: string[], io: Io): Promise<number> {
  const api = new ApiClient(apiTarget({ url: takeOption(args, '--url'), token: takeOption(args, '--token') }));
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    if (cmd === 'events') {
      const since = takeOption(args, '--since');
      const limit = intOption(args, '--limit', 0);
      const types = (takeOption(args, '--types') ?? '').split(',').filter(Boolean);
      if ((since !== undefined && !/^\d+$/.test(since)) || limit === null || args.length > 0) {
        io.err(USAGE);
        return 2;
      }
      return await tailEvents(api, {
        since: since === undefined ? null : Number(since),
        types,
        limit: limit || null,
        signal: abort.signal,
        out: io.out,
        err: io.err,
      });
    }
    const variables: Record<string, string> = {};
    for (let v = takeOption(args, '--var'); v !== undefined; v = takeOption(args, '--var')) {
      const eq = v.indexOf('=');
      if (eq <= 0) {
        io.err(`--var takes NAME=VALUE, got '${v}'`);
        return 2;
      }
      variables[v.slice(0, eq)] = v.slice(eq + 1);
    }
    const digits = takeOption(args, '--digits') ?? '';
    const waitMs = intOption(args, '--wait', 3000);
    const gapMs = intOption(args, '--gap', 600);
    const maxSeconds = intOption(args, '--max-seconds', 300);
    const outOption = takeOption(args, '--out');
    const flow = args.shift();
    const out = outOption ?? `call-${flow ?? ''}.wav`;
    if (
      !flow ||
      waitMs === null ||
      gapMs === null ||
      maxSeconds === null ||
      args.length > 0 ||
      !/^[0-9*#A-Da-d]*$/.test(digits)
    ) {
      io.err(USAGE);
      return 2;
    }
    return await callFlow(api, {
      flow,
      digits: digits.toUpperCase(),
      waitMs,
      gapMs,
      out,
      variables,
      maxMs: maxSeconds * 1000,
      keys: process.stdin.isTTY ? process.stdin : null,
      signal: abort.signal,
      log: io.out,
    });
  } catch (err) {
    if (err instanceof ApiCallError) {
      io.err(err.message);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export async function main(
  argv: string[],
  io: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) },
): Promise<number> {
  const args = [...argv];
  const group = args.shift();
  if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
    io.out(USAGE);
    return group === undefined ? 2 : 0;
  }
  if (group === 'events' || group === 'call') return client(group, args, io);
  if (group !== 'flows') {
    io.err(`unknown command '${group}'\n${USAGE}`);
    return 2;
  }
  const cmd = args.shift();
  switch (cmd) {
    case 'validate':
      return validate(args, io);
    case 'graph':
      return graph(args, io);
    case 'test':
      return test(args, io);
    default:
      io.err(`unknown flows command '${cmd ?? ''}'\n${USAGE}`);
      return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
