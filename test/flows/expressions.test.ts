import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  parseExpression,
  parseTemplate,
  renderTemplate,
  renderValue,
  ExpressionError,
} from '../../src/flows/expressions.ts';

const run = (text: string, scope: Record<string, unknown> = {}): unknown => evaluate(parseExpression(text), scope);

test('evaluate() computes comparison, logic, arithmetic and the ternary', () => {
  assert.equal(run('1 + 2 * 3'), 7);
  assert.equal(run("a == '1' && b > 2", { a: 1, b: 3 }), true, 'digits as strings compare equal to numbers');
  assert.equal(run('a || b', { a: '', b: 'x' }), 'x');
  assert.equal(run('x ?? 5', {}), 5);
  assert.equal(run("n > 1 ? 'many' : 'one'", { n: 2 }), 'many');
  assert.equal(run('!flag', { flag: false }), true);
  assert.equal(run("'a' + 1"), 'a1');
});

test('evaluate() reads variables and members of plain data; missing ones are undefined', () => {
  const scope = { caller: { number: '+1555', tags: ['vip'] } };
  assert.equal(run('caller.number', scope), '+1555');
  assert.equal(run("caller['number']", scope), '+1555');
  assert.equal(run('caller.tags[0]', scope), 'vip');
  assert.equal(run('caller.tags.length', scope), 1);
  assert.equal(run('caller.missing.deeper', scope), undefined);
  assert.equal(run('nobody', scope), undefined);
});

test('evaluate() never reaches prototypes, constructors or getters', () => {
  for (const bad of ['x.__proto__', 'x.constructor', 'x.prototype', "x['__proto__']", 'constructor', 'this']) {
    assert.throws(() => parseExpression(bad), ExpressionError, bad);
  }
  // Computed keys from data are checked at run time too.
  assert.equal(run('x[k]', { x: {}, k: '__proto__' }), undefined);
  assert.equal(run('x[k]', { x: {}, k: 'constructor' }), undefined);
  assert.equal(run('x.toString', { x: {} }), undefined, 'inherited members are invisible');
  const withGetter = Object.defineProperty({}, 'g', { get: () => 'ran', enumerable: true });
  assert.equal(run('x.g', { x: withGetter }), undefined, 'getters are not called');
});

test('parseExpression() rejects calls, assignment and operators outside the whitelist', () => {
  assert.throws(() => parseExpression("eval('1')"), /unknown function 'eval'/);
  assert.throws(() => parseExpression('x.call(1)'), /only the built-in functions/);
  assert.throws(() => parseExpression('a = 1'), ExpressionError);
  assert.throws(() => parseExpression('a | 1'), ExpressionError);
  assert.throws(() => parseExpression('a, b'), ExpressionError);
  assert.throws(() => parseExpression('len(a, b)'), /takes 1 argument/);
  assert.throws(() => parseExpression("matches(a, '(')"), /invalid regular expression/);
  assert.throws(() => parseExpression(''), /empty expression/);
});

test('built-in functions: len, matches, lower, default, digits', () => {
  assert.equal(run('len(d)', { d: '1234' }), 4);
  assert.equal(run("matches(d, '^[0-9]{4}$')", { d: '1234' }), true);
  assert.equal(run("matches(d, '^[0-9]{4}$')", { d: '12a4' }), false);
  assert.equal(run("lower('AbC')"), 'abc');
  assert.equal(run("default(x, 'none')", {}), 'none');
  assert.equal(run('digits(m)', { m: '204' }), '2 0 4');
  assert.equal(run("contains(list, 'b')", { list: ['a', 'b'] }), true);
});

test('renderTemplate() fills {{ }} holes; a single hole keeps the value type', () => {
  const t = parseTemplate('Hello {{ name }}, you have {{ n + 1 }} messages');
  assert.equal(renderTemplate(t, { name: 'Ada', n: 1 }), 'Hello Ada, you have 2 messages');
  assert.equal(renderTemplate(parseTemplate('{{ missing }}!'), {}), '!');
  assert.equal(renderValue(parseTemplate('{{ n }}'), { n: 3 }), 3);
  assert.deepEqual(renderValue(parseTemplate('{{ o }}'), { o: { a: 1 } }), { a: 1 });
  assert.throws(
    () => parseTemplate('Hi {{ name'),
    (e: ExpressionError) => e.index === 3,
  );
  assert.throws(() => parseTemplate('Hi {{ a = }}'), ExpressionError);
});
