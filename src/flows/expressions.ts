/**
 * The flow expression language: a small, side-effect-free subset of JavaScript syntax parsed by
 * jsep and evaluated by walking its AST against a whitelist. Flow text is never handed to `eval`
 * or `new Function`. What is allowed: literals, variables, member access on plain data (never
 * `__proto__`, `constructor` or `prototype`, only own properties), array literals, unary `! - +`,
 * comparison, arithmetic, `&& || ??`, `a ? b : c` and a fixed set of functions (`FUNCTIONS`).
 * Templates are strings with `{{ expression }}` holes.
 */
import jsep from 'jsep';

export type Ast = jsep.Expression;

/** A parse or validation problem; `index` is the character offset inside the expression text. */
export class ExpressionError extends Error {
  readonly index: number;
  constructor(message: string, index = 0) {
    super(message);
    this.name = 'ExpressionError';
    this.index = index;
  }
}

const FORBIDDEN_KEYS = new Set([
  '__proto__',
  'constructor',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
const BINARY_OPS = new Set(['==', '!=', '===', '!==', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '&&', '||', '??']);
const UNARY_OPS = new Set(['!', '-', '+']);
/** Upper bound on regex source length for matches(): keeps catastrophic patterns rare and short. */
const MAX_REGEX_LENGTH = 200;

type Fn = (args: unknown[]) => unknown;

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const regexCache = new Map<string, RegExp>();
function regex(source: unknown): RegExp {
  const s = str(source);
  let re = regexCache.get(s);
  if (re === undefined) {
    if (s.length > MAX_REGEX_LENGTH)
      throw new ExpressionError(`regular expression longer than ${MAX_REGEX_LENGTH} characters`);
    re = new RegExp(s);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(s, re);
  }
  return re;
}

/** The functions an expression may call; names are the whole API, documented in flows/README.md. */
export const FUNCTIONS: Readonly<Record<string, { arity: [number, number]; fn: Fn }>> = {
  len: {
    arity: [1, 1],
    fn: ([v]) =>
      typeof v === 'string' || Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0,
  },
  matches: { arity: [2, 2], fn: ([v, re]) => regex(re).test(str(v)) },
  contains: { arity: [2, 2], fn: ([h, n]) => (Array.isArray(h) ? h.includes(n) : str(h).includes(str(n))) },
  starts_with: { arity: [2, 2], fn: ([v, p]) => str(v).startsWith(str(p)) },
  ends_with: { arity: [2, 2], fn: ([v, p]) => str(v).endsWith(str(p)) },
  lower: { arity: [1, 1], fn: ([v]) => str(v).toLowerCase() },
  upper: { arity: [1, 1], fn: ([v]) => str(v).toUpperCase() },
  trim: { arity: [1, 1], fn: ([v]) => str(v).trim() },
  string: { arity: [1, 1], fn: ([v]) => str(v) },
  number: { arity: [1, 1], fn: ([v]) => Number(v) },
  int: { arity: [1, 1], fn: ([v]) => Math.trunc(Number(v)) },
  round: { arity: [1, 1], fn: ([v]) => Math.round(Number(v)) },
  min: { arity: [1, 16], fn: (a) => Math.min(...a.map(Number)) },
  max: { arity: [1, 16], fn: (a) => Math.max(...a.map(Number)) },
  join: {
    arity: [1, 2],
    fn: ([v, sep]) => (Array.isArray(v) ? v.map(str).join(sep === undefined ? ',' : str(sep)) : str(v)),
  },
  split: { arity: [2, 2], fn: ([v, sep]) => str(v).split(str(sep)) },
  slice: {
    arity: [2, 3],
    fn: ([v, a, b]) => (Array.isArray(v) ? v : str(v)).slice(Number(a), b === undefined ? undefined : Number(b)),
  },
  default: { arity: [2, 2], fn: ([v, d]) => (v === undefined || v === null || v === '' ? d : v) },
  is_empty: {
    arity: [1, 1],
    fn: ([v]) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0),
  },
  json: { arity: [1, 1], fn: ([v]) => JSON.stringify(v ?? null) },
  digits: { arity: [1, 1], fn: ([v]) => str(v).split('').join(' ') },
};

jsep.removeBinaryOp('|');
jsep.removeBinaryOp('^');
jsep.removeBinaryOp('&');
jsep.removeBinaryOp('<<');
jsep.removeBinaryOp('>>');
jsep.removeBinaryOp('>>>');
jsep.removeUnaryOp('~');
jsep.addBinaryOp('??', 1);

/** Walks a parsed expression and rejects everything outside the whitelist, at load time. */
function check(node: Ast): void {
  switch (node.type) {
    case 'Literal':
      if ((node as jsep.Literal).value instanceof RegExp)
        throw new ExpressionError('regular expression literals are not allowed; use matches(value, "pattern")');
      return;
    case 'Identifier': {
      const name = (node as jsep.Identifier).name;
      if (FORBIDDEN_KEYS.has(name)) throw new ExpressionError(`'${name}' is not allowed`);
      return;
    }
    case 'MemberExpression': {
      const m = node as jsep.MemberExpression;
      check(m.object);
      if (!m.computed) {
        const name = (m.property as jsep.Identifier).name;
        if (FORBIDDEN_KEYS.has(name)) throw new ExpressionError(`'.${name}' is not allowed`);
      } else {
        check(m.property);
        if (m.property.type === 'Literal' && FORBIDDEN_KEYS.has(String((m.property as jsep.Literal).value))) {
          throw new ExpressionError(`'[${String((m.property as jsep.Literal).value)}]' is not allowed`);
        }
      }
      return;
    }
    case 'ArrayExpression':
      for (const e of (node as jsep.ArrayExpression).elements) if (e) check(e);
      return;
    case 'UnaryExpression': {
      const u = node as jsep.UnaryExpression;
      if (!UNARY_OPS.has(u.operator)) throw new ExpressionError(`operator '${u.operator}' is not allowed`);
      check(u.argument);
      return;
    }
    case 'BinaryExpression': {
      const b = node as jsep.BinaryExpression;
      if (!BINARY_OPS.has(b.operator)) throw new ExpressionError(`operator '${b.operator}' is not allowed`);
      check(b.left);
      check(b.right);
      return;
    }
    case 'ConditionalExpression': {
      const c = node as jsep.ConditionalExpression;
      check(c.test);
      check(c.consequent);
      check(c.alternate);
      return;
    }
    case 'CallExpression': {
      const c = node as jsep.CallExpression;
      if (c.callee.type !== 'Identifier')
        throw new ExpressionError('only the built-in functions can be called (len, matches, ...)');
      const name = (c.callee as jsep.Identifier).name;
      const f = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
      if (f === undefined)
        throw new ExpressionError(`unknown function '${name}' (known: ${Object.keys(FUNCTIONS).join(', ')})`);
      if (c.arguments.length < f.arity[0] || c.arguments.length > f.arity[1]) {
        throw new ExpressionError(
          `${name}() takes ${f.arity[0] === f.arity[1] ? f.arity[0] : `${f.arity[0]} to ${f.arity[1]}`} argument(s), got ${c.arguments.length}`,
        );
      }
      for (const a of c.arguments) check(a);
      if (name === 'matches' && c.arguments[1]?.type === 'Literal') {
        try {
          regex((c.arguments[1] as jsep.Literal).value);
        } catch (err) {
          throw new ExpressionError(`invalid regular expression in matches(): ${(err as Error).message}`);
        }
      }
      return;
    }
    case 'ThisExpression':
      throw new ExpressionError("'this' is not allowed");
    case 'Compound':
    case 'SequenceExpression':
      throw new ExpressionError('one expression only (no commas or semicolons between expressions)');
    default:
      throw new ExpressionError(`'${node.type}' is not allowed`);
  }
}

/** Parses and whitelists `text`; throws ExpressionError with the offset of the problem. */
export function parseExpression(text: string): Ast {
  if (text.trim() === '') throw new ExpressionError('empty expression');
  let ast: Ast;
  try {
    ast = jsep(text);
  } catch (err) {
    const e = err as Error & { index?: number };
    throw new ExpressionError(e.message.replace(/ at character \d+$/, ''), e.index ?? 0);
  }
  check(ast);
  return ast;
}

export type Scope = Readonly<Record<string, unknown>>;

function member(obj: unknown, key: unknown): unknown {
  if (obj === null || obj === undefined) return undefined;
  const k = typeof key === 'number' ? key : str(key);
  if (typeof k === 'string' && FORBIDDEN_KEYS.has(k)) return undefined;
  if (typeof obj === 'string') return k === 'length' ? obj.length : typeof k === 'number' ? obj[k] : undefined;
  if (typeof obj !== 'object') return undefined;
  if (Array.isArray(obj) && k === 'length') return obj.length;
  // Own data properties only: no getters, nothing from the prototype chain.
  const d = Object.getOwnPropertyDescriptor(obj, k);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

function looseEq(a: unknown, b: unknown): boolean {
  // Digits arrive as strings and authors write numbers: '1' == 1 holds, nothing else is coerced.
  if ((typeof a === 'number' && typeof b === 'string') || (typeof a === 'string' && typeof b === 'number')) {
    return String(a) === String(b);
  }
  return a === b || ((a === null || a === undefined) && (b === null || b === undefined));
}

/**
 * Evaluates an already checked AST. Missing variables and members are `undefined` rather than
 * errors so that conditions over optional caller data stay simple.
 */
export function evaluate(node: Ast, scope: Scope): unknown {
  switch (node.type) {
    case 'Literal':
      return (node as jsep.Literal).value;
    case 'Identifier': {
      const name = (node as jsep.Identifier).name;
      return member(scope, name);
    }
    case 'MemberExpression': {
      const m = node as jsep.MemberExpression;
      const obj = evaluate(m.object, scope);
      const key = m.computed ? evaluate(m.property, scope) : (m.property as jsep.Identifier).name;
      return member(obj, key);
    }
    case 'ArrayExpression':
      return (node as jsep.ArrayExpression).elements.map((e) => (e ? evaluate(e, scope) : undefined));
    case 'UnaryExpression': {
      const u = node as jsep.UnaryExpression;
      const v = evaluate(u.argument, scope);
      return u.operator === '!' ? !v : u.operator === '-' ? -Number(v) : Number(v);
    }
    case 'BinaryExpression': {
      const b = node as jsep.BinaryExpression;
      if (b.operator === '&&') return evaluate(b.left, scope) ? evaluate(b.right, scope) : false;
      if (b.operator === '||') {
        const l = evaluate(b.left, scope);
        return l ? l : evaluate(b.right, scope);
      }
      if (b.operator === '??') return evaluate(b.left, scope) ?? evaluate(b.right, scope);
      const l = evaluate(b.left, scope);
      const r = evaluate(b.right, scope);
      switch (b.operator) {
        case '==':
        case '===':
          return looseEq(l, r);
        case '!=':
        case '!==':
          return !looseEq(l, r);
        case '<':
          return (l as number) < (r as number);
        case '<=':
          return (l as number) <= (r as number);
        case '>':
          return (l as number) > (r as number);
        case '>=':
          return (l as number) >= (r as number);
        case '+':
          return typeof l === 'string' || typeof r === 'string' ? str(l) + str(r) : Number(l) + Number(r);
        case '-':
          return Number(l) - Number(r);
        case '*':
          return Number(l) * Number(r);
        case '/':
          return Number(l) / Number(r);
        case '%':
          return Number(l) % Number(r);
        default:
          throw new ExpressionError(`operator '${b.operator}' is not allowed`);
      }
    }
    case 'ConditionalExpression': {
      const c = node as jsep.ConditionalExpression;
      return evaluate(c.test, scope) ? evaluate(c.consequent, scope) : evaluate(c.alternate, scope);
    }
    case 'CallExpression': {
      const c = node as jsep.CallExpression;
      const name = (c.callee as jsep.Identifier).name;
      const f = FUNCTIONS[name];
      if (f === undefined) throw new ExpressionError(`unknown function '${name}'`);
      return f.fn(c.arguments.map((a) => evaluate(a, scope)));
    }
    default:
      throw new ExpressionError(`'${node.type}' is not allowed`);
  }
}

/** Evaluation that never throws: a runtime failure (bad regex from data) reads as `undefined`. */
export function safeEvaluate(node: Ast, scope: Scope): unknown {
  try {
    return evaluate(node, scope);
  } catch {
    return undefined;
  }
}

/** A parsed `{{ }}` template: literal text and expressions, alternating. */
export type Template = ReadonlyArray<string | Ast>;

/** Parses `text` with `{{ expr }}` holes; `offset` of errors points inside `text`. */
export function parseTemplate(text: string): Template {
  const parts: Array<string | Ast> = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push(text.slice(i));
      break;
    }
    if (open > i) parts.push(text.slice(i, open));
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new ExpressionError("'{{' without a closing '}}'", open);
    const inner = text.slice(open + 2, close);
    try {
      parts.push(parseExpression(inner));
    } catch (err) {
      const e = err as ExpressionError;
      throw new ExpressionError(e.message, open + 2 + (e.index ?? 0));
    }
    i = close + 2;
  }
  return parts;
}

export function isTemplated(text: string): boolean {
  return text.includes('{{');
}

/** Renders a template; a single-hole template keeps the value's type (`'{{ count }}'` → number). */
export function renderTemplate(t: Template, scope: Scope): string {
  let out = '';
  for (const p of t) out += typeof p === 'string' ? p : str(safeEvaluate(p, scope));
  return out;
}

/** Like renderTemplate, but `'{{ x }}'` alone yields x itself (object, number), not its text. */
export function renderValue(t: Template, scope: Scope): unknown {
  if (t.length === 1 && typeof t[0] !== 'string' && t[0] !== undefined) return safeEvaluate(t[0], scope);
  return renderTemplate(t, scope);
}

export function toText(v: unknown): string {
  return str(v);
}
