/**
 * Flow loader: YAML text → validated, normalised FlowDefinition, or a list of problems that each
 * point at `file:line:column` with a message an author understands. Three passes: YAML syntax,
 * JSON Schema (schemas/flow.schema.json, ajv), then meaning (step references, expressions,
 * templates, digit limits). An invalid flow never yields a definition.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { LineCounter, isMap, isScalar, isSeq, isPair, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { amdParametersFromConf, type AmdParameters } from '../common/amdParameters.ts';
import { checkYamlLimits, MAX_FLOW_ALIASES, MAX_FLOW_BYTES } from './yamlLimits.ts';
import { ExpressionError, parseExpression, parseTemplate, type Template } from './expressions.ts';
import type {
  CollectInput,
  FlowDefinition,
  FlowProblem,
  Handler,
  JsonTemplate,
  NextBranch,
  SourcePos,
  SpeechSettings,
  Step,
  Valuer,
  VariableDecl,
} from './types.ts';

const SCHEMA_PATH = fileURLToPath(new URL('../../schemas/flow.schema.json', import.meta.url));

let validator: ValidateFunction | null = null;
let stepTypes: string[] = [];
let stepFields: Record<string, string[]> = {};

/** The flow JSON Schema, as shipped in schemas/flow.schema.json. */
export function flowSchema(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
}

function getValidator(): ValidateFunction {
  if (validator === null) {
    const schema = flowSchema() as {
      $defs: Record<string, { properties?: Record<string, unknown>; [k: string]: unknown }>;
    };
    const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true });
    validator = ajv.compile(schema);
    const stepDef = schema.$defs.step as { properties: { type: { enum: string[] } } };
    stepTypes = stepDef.properties.type.enum;
    stepFields = {};
    for (const t of stepTypes) stepFields[t] = Object.keys(schema.$defs[`${t}Step`]?.properties ?? {});
  }
  return validator;
}

export type LoadResult =
  | { ok: true; flow: FlowDefinition }
  | { ok: false; errors: FlowProblem[]; warnings: FlowProblem[] };

type PathSeg = string | number;

/** Finds positions of YAML nodes by data path. */
class Positions {
  readonly #doc: Document;
  readonly #lc: LineCounter;
  readonly #file: string;
  readonly #text: string;
  constructor(doc: Document, lc: LineCounter, file: string, text: string) {
    this.#doc = doc;
    this.#lc = lc;
    this.#file = file;
    this.#text = text;
  }

  #walk(p: readonly PathSeg[]): { node: YamlNode | null; key: YamlNode | null } {
    let node: unknown = this.#doc.contents;
    let key: YamlNode | null = null;
    for (const seg of p) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) return { node: node as YamlNode, key: null };
        key = pair.key as YamlNode;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) return { node: node as YamlNode, key: null };
        key = null;
        node = item;
      } else {
        return { node: (node ?? null) as YamlNode | null, key };
      }
    }
    return { node: (node ?? key ?? null) as YamlNode | null, key };
  }

  /** Position of the value at `p` (or of its key with `atKey`), with `inner` chars into a scalar. */
  at(p: readonly PathSeg[], atKey = false, inner = 0): SourcePos {
    const { node, key } = this.#walk(p);
    const target = atKey && key ? key : node;
    let offset = target?.range?.[0] ?? 0;
    if (inner > 0 && target && isScalar(target)) {
      const q = this.#text[offset];
      offset += (q === '"' || q === "'" ? 1 : 0) + inner;
    }
    const lp = this.#lc.linePos(offset);
    return { file: this.#file, line: lp.line, column: lp.col };
  }

  problem(p: readonly PathSeg[], message: string, atKey = false, inner = 0): FlowProblem {
    return { ...this.at(p, atKey, inner), message };
  }
}

function describePath(p: readonly PathSeg[]): string {
  if (p[0] === 'steps' && p.length >= 2) {
    const rest = p
      .slice(2)
      .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
      .join('');
    return `step '${String(p[1])}'${rest ? ` field '${rest.slice(1)}'` : ''}`;
  }
  return p.length ? `'${p.map(String).join('.')}'` : 'the flow';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestD = 3;
  for (const c of candidates) {
    // A prefix ('barge' for 'barge_in') is as good a guess as a typo.
    const dist =
      c.toLowerCase().startsWith(word.toLowerCase()) && word.length >= 3
        ? 1
        : levenshtein(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  return best ? ` (did you mean '${best}'?)` : '';
}

const ONE_OF_HINTS: Record<string, string> = {
  media: 'a media item (prompt:NAME, tts:TEXT, tone:440, silence:500, digits:123, a path or URL) or a list of them',
  next: 'a step name, or a list of {if: <condition>, goto: <step>}',
  variable: 'a default value, or {type, default, description, required}',
};

function toPath(instancePath: string): PathSeg[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function schemaProblems(errors: ErrorObject[], pos: Positions, data: unknown): FlowProblem[] {
  const out: FlowProblem[] = [];
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath);
  const stepType = (p: PathSeg[]): string | null => {
    if (p[0] !== 'steps' || p.length < 2) return null;
    const s = (data as { steps?: Record<string, { type?: unknown }> }).steps?.[String(p[1])];
    return typeof s?.type === 'string' ? s.type : null;
  };
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    const p = toPath(e.instancePath);
    // Errors inside a oneOf's branches are noise: the oneOf error itself says what was expected.
    if (e.keyword !== 'oneOf' && oneOfPaths.some((op) => e.instancePath === op || e.instancePath.startsWith(`${op}/`)))
      continue;
    const where = describePath(p);
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        const t = stepType(p);
        out.push(pos.problem(p, `${where}${t ? ` (${t})` : ''} is missing required field '${missing}'`, p.length > 0));
        break;
      }
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        const t = stepType(p);
        const allowed =
          t && p.length === 2
            ? (stepFields[t] ?? [])
            : Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        out.push(
          pos.problem(
            [...p, extra],
            `unknown field '${extra}' in ${where}${t && p.length === 2 ? ` (type ${t})` : ''}${didYouMean(extra, allowed)}; allowed: ${allowed.join(', ')}`,
            true,
          ),
        );
        break;
      }
      case 'enum': {
        const value = p.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k as string], data);
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        if (p[0] === 'steps' && p.length === 3 && p[2] === 'type') {
          out.push(
            pos.problem(
              p,
              `unknown step type '${String(value)}' in step '${String(p[1])}'${didYouMean(String(value), allowed)}; known types: ${allowed.join(', ')}`,
            ),
          );
        } else {
          out.push(pos.problem(p, `${where} must be one of ${allowed.join(', ')} (got '${String(value)}')`));
        }
        break;
      }
      case 'type':
        out.push(
          pos.problem(
            p,
            `${where} must be ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}`,
          ),
        );
        break;
      case 'oneOf': {
        const ref = /\$defs\/(\w+)/.exec(e.schemaPath);
        const refName = ref?.[1] ?? '';
        const hint = ONE_OF_HINTS[refName] ?? ONE_OF_HINTS[String(p[p.length - 1])] ?? 'another form';
        out.push(pos.problem(p, `${where} has the wrong form: expected ${hint}`));
        break;
      }
      case 'propertyNames':
        break; // reported through the nested pattern error below
      case 'pattern': {
        const name = (e.params as { pattern: string }).pattern;
        const prop = (e as ErrorObject & { propertyName?: string }).propertyName;
        if (prop !== undefined) {
          const key = p[p.length - 1] === 'steps' ? 'step name' : p[p.length - 1] === 'options' ? 'menu key' : 'name';
          out.push(pos.problem([...p, prop], `invalid ${key} '${prop}': must match ${name}`, true));
        } else {
          out.push(pos.problem(p, `${where} must match ${name}`));
        }
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'minItems':
      case 'minProperties':
      case 'minLength':
      case 'maxLength':
        out.push(pos.problem(p, `${where} ${e.message ?? 'is out of range'}`));
        break;
      default:
        out.push(pos.problem(p, `${where} ${e.message ?? 'is invalid'}`));
    }
  }
  return out;
}

type Raw = Record<string, unknown>;

/** Semantic pass + normalisation; pushes problems instead of throwing. */
class Normaliser {
  readonly problems: FlowProblem[] = [];
  readonly warnings: FlowProblem[] = [];
  readonly #pos: Positions;
  readonly #stepNames: Set<string>;
  constructor(pos: Positions, stepNames: Set<string>) {
    this.#pos = pos;
    this.#stepNames = stepNames;
  }

  ref(p: PathSeg[], name: unknown, what: string): string | null {
    if (name === undefined || name === null) return null;
    const n = String(name);
    if (!this.#stepNames.has(n)) {
      this.problems.push(
        this.#pos.problem(p, `${what} '${n}' is not a step of this flow${didYouMean(n, [...this.#stepNames])}`),
      );
    }
    return n;
  }

  expr(p: PathSeg[], text: string): { ast: import('./expressions.ts').Ast; text: string } | null {
    try {
      return { ast: parseExpression(text), text };
    } catch (err) {
      const e = err as ExpressionError;
      this.problems.push(this.#pos.problem(p, `bad expression '${text}': ${e.message}`, false, e.index ?? 0));
      return null;
    }
  }

  template(p: PathSeg[], text: string): Template {
    try {
      return parseTemplate(text);
    } catch (err) {
      const e = err as ExpressionError;
      this.problems.push(this.#pos.problem(p, `bad template '${text}': ${e.message}`, false, e.index ?? 0));
      return [text];
    }
  }

  media(p: PathSeg[], v: unknown): Template[] {
    const items = Array.isArray(v) ? v : v === undefined ? [] : [v];
    return items.map((it, i) => this.template(Array.isArray(v) ? [...p, i] : p, String(it)));
  }

  valuer(p: PathSeg[], v: unknown): Valuer {
    if (typeof v !== 'string') return { literal: v };
    return this.expr(p, v) ?? { literal: null };
  }

  assignments(p: PathSeg[], v: unknown): Array<[string, Valuer]> {
    if (v === undefined || v === null) return [];
    return Object.entries(v as Raw).map(([k, x]) => [k, this.valuer([...p, k], x)]);
  }

  json(p: PathSeg[], v: unknown): JsonTemplate {
    if (typeof v === 'string') return { kind: 'template', t: this.template(p, v) };
    if (Array.isArray(v)) return { kind: 'array', items: v.map((x, i) => this.json([...p, i], x)) };
    if (v !== null && typeof v === 'object')
      return { kind: 'object', entries: Object.entries(v).map(([k, x]) => [k, this.json([...p, k], x)]) };
    return { kind: 'literal', value: v };
  }

  next(p: PathSeg[], v: unknown): NextBranch[] {
    if (v === undefined || v === null) return [];
    if (typeof v === 'string') {
      const t = this.ref(p, v, 'next step');
      return t ? [{ cond: null, condText: null, target: t }] : [];
    }
    const out: NextBranch[] = [];
    (v as Array<{ if?: string; goto: string }>).forEach((b, i) => {
      const target = this.ref([...p, i, 'goto'], b.goto, 'goto step') ?? '';
      const e = b.if !== undefined ? this.expr([...p, i, 'if'], b.if) : null;
      out.push({ cond: e?.ast ?? null, condText: b.if ?? null, target });
    });
    return out;
  }

  handler(p: PathSeg[], v: unknown): Handler {
    if (v === undefined || v === null) return { prompts: [], goto: null };
    const h = v as Raw;
    const prompts: Template[][] = [];
    if (h.prompt !== undefined) prompts.push(this.media([...p, 'prompt'], h.prompt));
    if (Array.isArray(h.prompts)) h.prompts.forEach((m, i) => prompts.push(this.media([...p, 'prompts', i], m)));
    return { prompts, goto: this.ref([...p, 'goto'], h.goto, 'goto step') };
  }

  step(name: string, s: Raw): Step {
    const p: PathSeg[] = ['steps', name];
    const base = {
      name,
      pos: this.#pos.at(p, true),
      description: typeof s.description === 'string' ? s.description : null,
      next: this.next([...p, 'next'], s.next),
      onError: this.ref([...p, 'on_error'], s.on_error, 'on_error step'),
      onHangup: this.ref([...p, 'on_hangup'], s.on_hangup, 'on_hangup step'),
    };
    const num = (k: string, d: number): number => (typeof s[k] === 'number' ? (s[k] as number) : d);
    const bool = (k: string, d: boolean): boolean => (typeof s[k] === 'boolean' ? (s[k] as boolean) : d);
    // barge_in: true (keys, as always), false, or what interrupts: dtmf | speech | both.
    const barge = (d: boolean | CollectInput): { bargeIn: boolean; bargeInSpeech: boolean } => {
      const v = s.barge_in ?? d;
      const kind = v === true ? (d === false || d === true ? 'dtmf' : d) : v;
      return { bargeIn: kind === 'dtmf' || kind === 'both', bargeInSpeech: kind === 'speech' || kind === 'both' };
    };
    switch (s.type) {
      case 'play':
        return { ...base, type: 'play', media: this.media([...p, 'media'], s.media), ...barge(false) };
      case 'say':
        return {
          ...base,
          type: 'say',
          text: this.template([...p, 'text'], String(s.text)),
          voice: (s.voice as string) ?? null,
          ...barge(false),
        };
      case 'collect':
      case 'menu': {
        const prompts: Template[][] = [];
        if (s.prompt !== undefined) prompts.push(this.media([...p, 'prompt'], s.prompt));
        if (Array.isArray(s.prompts)) s.prompts.forEach((m, i) => prompts.push(this.media([...p, 'prompts', i], m)));
        if (s.prompt !== undefined && s.prompts !== undefined) {
          this.problems.push(
            this.#pos.problem(
              [...p, 'prompts'],
              `step '${name}': use either 'prompt' or 'prompts' (tapered), not both`,
              true,
            ),
          );
        }
        let choices: Record<string, string> | null = null;
        let maxDefault = 20;
        if (s.type === 'menu') {
          choices = {};
          for (const [k, v] of Object.entries(s.options as Raw)) {
            choices[k] = this.ref([...p, 'options', k], v, `menu option '${k}' step`) ?? '';
          }
          maxDefault = Math.max(...Object.keys(choices).map((k) => k.length));
          if (s.next !== undefined)
            this.problems.push(
              this.#pos.problem(
                [...p, 'next'],
                `step '${name}' (menu): a menu continues through its options; remove 'next'`,
                true,
              ),
            );
        }
        const minDigits = num('min_digits', 1);
        const maxDigits = num('max_digits', maxDefault);
        if (minDigits > maxDigits) {
          this.problems.push(
            this.#pos.problem(
              [...p, 'min_digits'],
              `step '${name}': min_digits (${minDigits}) is greater than max_digits (${maxDigits})`,
            ),
          );
        }
        let pattern: string | null = null;
        if (typeof s.pattern === 'string') {
          try {
            new RegExp(s.pattern);
            pattern = s.pattern;
          } catch (err) {
            this.problems.push(
              this.#pos.problem([...p, 'pattern'], `step '${name}': invalid pattern: ${(err as Error).message}`),
            );
          }
        }
        const terminator = typeof s.terminator === 'string' ? s.terminator : s.type === 'menu' ? '' : '#';
        const maxAttempts = num('max_attempts', 3);
        const onFailure = this.ref([...p, 'on_failure'], s.on_failure, 'on_failure step');
        const input: CollectInput = s.input === 'speech' || s.input === 'both' ? s.input : 'dtmf';
        const sp = (s.speech as Raw | undefined) ?? {};
        const speech: SpeechSettings = {
          url: typeof sp.url === 'string' ? sp.url : null,
          language: typeof sp.language === 'string' ? sp.language : null,
          hints: Array.isArray(sp.hints) ? sp.hints.map(String) : [],
          maxSpeechMs: typeof sp.max_speech_ms === 'number' ? sp.max_speech_ms : 15000,
          minConfidence: typeof sp.min_confidence === 'number' ? sp.min_confidence : 0,
        };
        return {
          ...base,
          type: 'collect',
          sourceType: s.type,
          prompts,
          variable: typeof s.variable === 'string' ? s.variable : s.type === 'menu' ? 'choice' : 'digits',
          minDigits,
          maxDigits,
          terminator,
          firstDigitTimeoutMs: num('first_digit_timeout_ms', 5000),
          interDigitTimeoutMs: num('inter_digit_timeout_ms', 3000),
          pattern,
          // By default what the step takes as input also interrupts its prompt.
          ...barge(input),
          input,
          speech,
          maxAttempts,
          noinput: this.handler([...p, 'noinput'], s.noinput),
          nomatch: this.handler([...p, 'nomatch'], s.nomatch),
          onFailure,
          choices,
        };
      }
      case 'record':
        return {
          ...base,
          type: 'record',
          path: typeof s.path === 'string' ? this.template([...p, 'path'], s.path) : null,
          format: (s.format as 'wav' | 'mp3' | 'opus') ?? 'wav',
          maxDurationMs: num('max_duration_ms', 120000),
          silenceTimeoutMs: num('silence_timeout_ms', 5000),
          terminator: typeof s.terminator === 'string' ? s.terminator : '#',
          beep: bool('beep', true),
          variable: typeof s.variable === 'string' ? s.variable : 'recording',
        };
      case 'amd': {
        // `on: {human: step, ...}` becomes `next` branches on the result, before the step's own
        // `next` (the way out for a result without an entry).
        const variable = typeof s.variable === 'string' ? s.variable : 'amd';
        const on = (s.on as Record<string, unknown> | undefined) ?? {};
        const branches: NextBranch[] = [];
        for (const result of ['human', 'machine', 'notsure']) {
          if (on[result] === undefined) continue;
          const target = this.ref([...p, 'on', result], on[result], `on.${result} step`) ?? '';
          const condText = `${variable}.result == '${result}'`;
          branches.push({ cond: parseExpression(condText), condText, target });
        }
        return {
          ...base,
          type: 'amd',
          parameters: amdParametersFromConf(s) as Partial<AmdParameters>,
          variable,
          next: [...branches, ...base.next],
        };
      }
      case 'conference':
        return {
          ...base,
          type: 'conference',
          room: this.template([...p, 'room'], String(s.room)),
          options: (s.options as Raw) ?? {},
        };
      case 'bridge':
        return {
          ...base,
          type: 'bridge',
          target: this.template([...p, 'target'], String(s.target)),
          options: (s.options as Raw) ?? {},
        };
      case 'http':
        return {
          ...base,
          type: 'http',
          method: (s.method as 'GET') ?? 'GET',
          url: this.template([...p, 'url'], String(s.url)),
          headers: Object.entries((s.headers as Record<string, string>) ?? {}).map(([k, v]) => [
            k,
            this.template([...p, 'headers', k], v),
          ]),
          body: s.body === undefined ? null : this.json([...p, 'body'], s.body),
          bodyIsText: typeof s.body === 'string',
          timeoutMs: num('timeout_ms', 5000),
          retries: num('retries', 0),
          backoffMs: num('retry_backoff_ms', 500),
          result: (s.result as string) ?? null,
          assign: this.assignments([...p, 'assign'], s.assign),
          fallback: this.ref([...p, 'fallback'], s.fallback, 'fallback step'),
        };
      case 'stream': {
        const strings = (k: string): Array<[string, Template]> =>
          Object.entries((s[k] as Record<string, string>) ?? {}).map(([name, v]) => [
            name,
            this.template([...p, k, name], String(v)),
          ]);
        return {
          ...base,
          type: 'stream',
          url: this.template([...p, 'url'], String(s.url)),
          parameters: strings('parameters'),
          tracks: (s.tracks as 'inbound') ?? null,
          encoding: (s.encoding as 'pcmu') ?? null,
          sampleRate: (s.sample_rate as 8000) ?? null,
          mode: (s.mode as 'twilio') ?? null,
          bidirectional: bool('bidirectional', true),
          token: typeof s.token === 'string' ? this.template([...p, 'token'], s.token) : null,
          headers: strings('headers'),
          connectTimeoutMs: typeof s.connect_timeout_ms === 'number' ? s.connect_timeout_ms : null,
          maxQueueMs: typeof s.max_queue_ms === 'number' ? s.max_queue_ms : null,
          variable: typeof s.variable === 'string' ? s.variable : 'bot',
        };
      }
      case 'set':
        return { ...base, type: 'set', values: this.assignments([...p, 'values'], s.values) };
      case 'branch': {
        const conds = (s.conditions as Array<{ if: string; goto: string }>).map((c, i) => {
          const e = this.expr([...p, 'conditions', i, 'if'], c.if);
          return {
            cond: e?.ast ?? null,
            condText: c.if,
            target: this.ref([...p, 'conditions', i, 'goto'], c.goto, 'goto step') ?? '',
          };
        });
        const els = this.ref([...p, 'else'], s.else, 'else step');
        if (s.next !== undefined)
          this.problems.push(
            this.#pos.problem([...p, 'next'], `step '${name}' (branch): use 'else' instead of 'next'`, true),
          );
        return {
          ...base,
          type: 'branch',
          sourceType: 'branch',
          next: els ? [...conds, { cond: null, condText: null, target: els }] : conds,
        };
      }
      case 'goto': {
        if (s.next !== undefined)
          this.problems.push(
            this.#pos.problem([...p, 'next'], `step '${name}' (goto): 'next' makes no sense here; use 'target'`, true),
          );
        const t = this.ref([...p, 'target'], s.target, 'goto target') ?? '';
        return { ...base, type: 'branch', sourceType: 'goto', next: [{ cond: null, condText: null, target: t }] };
      }
      case 'call':
        return {
          ...base,
          type: 'call',
          flow: String(s.flow),
          params: this.assignments([...p, 'params'], s.params),
          returns: this.assignments([...p, 'returns'], s.returns),
        };
      case 'return':
        this.terminal(p, s, name);
        return {
          ...base,
          type: 'return',
          values: s.values === undefined ? null : this.assignments([...p, 'values'], s.values),
        };
      case 'wait':
        return { ...base, type: 'wait', durationMs: num('duration_ms', 0) };
      case 'log':
        return {
          ...base,
          type: 'log',
          message: this.template([...p, 'message'], String(s.message)),
          level: (s.level as 'info') ?? 'info',
        };
      case 'transfer':
        this.terminal(p, s, name);
        return { ...base, type: 'transfer', target: this.template([...p, 'target'], String(s.target)) };
      case 'hangup':
        this.terminal(p, s, name);
        return { ...base, type: 'hangup', cause: typeof s.cause === 'string' ? s.cause : 'normal' };
      default:
        throw new Error(`unreachable step type ${String(s.type)}`);
    }
  }

  terminal(p: PathSeg[], s: Raw, name: string): void {
    if (s.next !== undefined)
      this.problems.push(
        this.#pos.problem(
          [...p, 'next'],
          `step '${name}' (${String(s.type)}) ends the flow; 'next' is never taken`,
          true,
        ),
      );
  }
}

function stepTargets(s: Step): string[] {
  const t = s.next.map((n) => n.target);
  if (s.onError) t.push(s.onError);
  if (s.onHangup) t.push(s.onHangup);
  if (s.type === 'collect') {
    if (s.onFailure) t.push(s.onFailure);
    if (s.noinput.goto) t.push(s.noinput.goto);
    if (s.nomatch.goto) t.push(s.nomatch.goto);
    if (s.choices) t.push(...Object.values(s.choices));
  }
  if (s.type === 'http' && s.fallback) t.push(s.fallback);
  return t;
}

/** Parses, validates and normalises one flow. `file` is used in positions only. */
export function loadFlowText(text: string, file: string): LoadResult {
  const tooBig = checkYamlLimits(text);
  if (tooBig !== null)
    return { ok: false, warnings: [], errors: [{ file, ...tooBig, message: `YAML limits: ${tooBig.message}` }] };
  const lc = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    return {
      ok: false,
      warnings: [],
      errors: [{ file, line: 1, column: 1, message: `YAML syntax: ${(err as Error).message}` }],
    };
  }
  const pos = new Positions(doc, lc, file, text);
  if (doc.errors.length > 0) {
    return {
      ok: false,
      warnings: [],
      errors: doc.errors.map((e) => {
        const lp = lc.linePos(e.pos[0]);
        return {
          file,
          line: lp.line,
          column: lp.col,
          message: `YAML syntax: ${e.message.split('\n')[0] ?? e.message}`,
        };
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_FLOW_ALIASES }) as unknown;
  } catch (err) {
    // The yaml package throws on alias expansion past maxAliasCount ("Excessive alias count").
    const message = /alias/i.test((err as Error).message)
      ? `YAML limits: aliases expand to more than ${MAX_FLOW_ALIASES} copies (*name uses); write the values out or use fewer aliases`
      : `YAML: ${(err as Error).message}`;
    return { ok: false, warnings: [], errors: [{ file, line: 1, column: 1, message }] };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return {
      ok: false,
      warnings: [],
      errors: [{ file, line: 1, column: 1, message: 'a flow file must be a mapping with name, start and steps' }],
    };
  }
  const validate = getValidator();
  if (!validate(data)) {
    const errors = dedupe(schemaProblems(validate.errors ?? [], pos, data));
    return { ok: false, errors, warnings: [] };
  }
  const raw = data as Raw;
  const rawSteps = raw.steps as Record<string, Raw>;
  const names = new Set(Object.keys(rawSteps));
  const n = new Normaliser(pos, names);
  const start = n.ref(['start'], raw.start, 'start step') ?? '';
  const onError = n.ref(['on_error'], raw.on_error, 'on_error step');
  const onHangup = n.ref(['on_hangup'], raw.on_hangup, 'on_hangup step');
  const steps: Record<string, Step> = {};
  for (const [name, s] of Object.entries(rawSteps)) steps[name] = n.step(name, s);
  const variables: Record<string, VariableDecl> = {};
  for (const [k, v] of Object.entries((raw.variables as Raw) ?? {})) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const d = v as { type?: VariableDecl['type']; default?: unknown; required?: boolean; description?: string };
      variables[k] = {
        type: d.type ?? null,
        default: d.default ?? null,
        required: d.required ?? false,
        description: d.description ?? null,
      };
      if (d.type && d.default !== undefined && d.default !== null && !matchesType(d.default, d.type)) {
        n.problems.push(
          pos.problem(['variables', k, 'default'], `variable '${k}': default does not match type ${d.type}`),
        );
      }
    } else {
      variables[k] = { type: null, default: v, required: false, description: null };
    }
  }
  if (n.problems.length > 0) return { ok: false, errors: dedupe(n.problems), warnings: n.warnings };

  // A cycle of steps that never wait and never branch out would spin forever: reject it.
  const instant = new Set(['set', 'branch', 'log']);
  for (const s0 of Object.values(steps)) {
    const path: string[] = [];
    let cur: Step | undefined = s0;
    while (
      cur &&
      instant.has(cur.type) &&
      cur.next.length >= 1 &&
      cur.next[0]!.cond === null &&
      !path.includes(cur.name)
    ) {
      path.push(cur.name);
      cur = steps[cur.next[0]!.target];
    }
    if (cur && path.includes(cur.name) && cur.name === s0.name) {
      n.problems.push(
        pos.problem(
          ['steps', s0.name],
          `steps ${[...path, s0.name].join(' → ')} loop forever without waiting for anything (add a collect, wait or condition)`,
          true,
        ),
      );
      break;
    }
  }
  if (n.problems.length > 0) return { ok: false, errors: dedupe(n.problems), warnings: n.warnings };

  // Unreachable steps are legal (kept for later) but usually a typo: warn.
  const reached = new Set<string>();
  const queue = [start, ...(onError ? [onError] : []), ...(onHangup ? [onHangup] : [])];
  while (queue.length) {
    const s = queue.pop()!;
    if (reached.has(s) || !steps[s]) continue;
    reached.add(s);
    queue.push(...stepTargets(steps[s]));
  }
  for (const name of names) {
    if (!reached.has(name)) n.warnings.push(pos.problem(['steps', name], `step '${name}' is never reached`, true));
  }
  const base = path.basename(file).replace(/\.ya?ml$/, '');
  if (file !== '<input>' && base !== raw.name) {
    n.warnings.push(pos.problem(['name'], `flow name '${String(raw.name)}' differs from the file name '${base}'`));
  }
  return {
    ok: true,
    flow: {
      name: String(raw.name),
      description: typeof raw.description === 'string' ? raw.description : '',
      file,
      source: text,
      variables,
      start,
      onError,
      onHangup,
      steps,
      warnings: n.warnings,
    },
  };
}

export function matchesType(v: unknown, t: NonNullable<VariableDecl['type']>): boolean {
  switch (t) {
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    default:
      return typeof v === t;
  }
}

function dedupe(ps: FlowProblem[]): FlowProblem[] {
  const seen = new Set<string>();
  const out: FlowProblem[] = [];
  for (const p of ps) {
    const k = `${p.line}:${p.column}:${p.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(p);
    }
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * The text of a flow file, or the problem reading it. The size is checked before reading, so a
 * huge file is never loaded into memory.
 */
export function readFlowSource(file: string): { ok: true; text: string } | { ok: false; problem: FlowProblem } {
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_FLOW_BYTES) {
      return {
        ok: false,
        problem: {
          file,
          line: 1,
          column: 1,
          message: `YAML limits: the flow is ${size} bytes; the limit is ${MAX_FLOW_BYTES}`,
        },
      };
    }
    return { ok: true, text: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    return { ok: false, problem: { file, line: 1, column: 1, message: `cannot read file: ${(err as Error).message}` } };
  }
}

/** Reads and loads one file. */
export function loadFlowFile(file: string): LoadResult {
  const src = readFlowSource(file);
  if (!src.ok) return { ok: false, warnings: [], errors: [src.problem] };
  return loadFlowText(src.text, file);
}

/**
 * Problems across a set of flows: `call` steps naming a flow that is not in the set, and two
 * files declaring the same name.
 */
export function crossCheck(flows: readonly FlowDefinition[]): FlowProblem[] {
  const names = new Map<string, FlowDefinition>();
  const out: FlowProblem[] = [];
  for (const f of flows) {
    const prev = names.get(f.name);
    if (prev)
      out.push({ file: f.file, line: 1, column: 1, message: `flow name '${f.name}' is already used by ${prev.file}` });
    else names.set(f.name, f);
  }
  for (const f of flows) {
    for (const s of Object.values(f.steps)) {
      if (s.type === 'call' && !names.has(s.flow)) {
        out.push({
          ...s.pos,
          message: `step '${s.name}' calls flow '${s.flow}', which does not exist${didYouMean(s.flow, [...names.keys()])}`,
        });
      }
    }
  }
  return out;
}
