import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { EVENT_SCHEMAS_DIR } from '../../src/api/http/schemas.ts';

/**
 * The TypeScript catalogue (control/events.ts, ServerEvents) and the published schemas
 * (schemas/events/) are written apart; this reads the catalogue with the compiler and compares
 * every event's fields with its schema: names, which are required, JSON types and string enums.
 */

const EVENTS_TS = fileURLToPath(new URL('../../src/control/events.ts', import.meta.url));
// `instance`: the envelope's cluster field (src/cluster/streamEntry.ts), on every event in a cluster
const ENVELOPE = new Set(['seq', 'type', 'time', 'instance']);

interface Field {
  required: boolean;
  kinds: Set<string>;
  strings: Set<string> | null;
}

function catalogue(): Map<string, Map<string, Field>> {
  const program = ts.createProgram([EVENTS_TS], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(EVENTS_TS)!;
  const symbol = checker
    .getExportsOfModule(checker.getSymbolAtLocation(source)!)
    .find((s) => s.name === 'ServerEvents')!;
  const events = checker.getDeclaredTypeOfSymbol(symbol);
  const out = new Map<string, Map<string, Field>>();
  for (const event of checker.getPropertiesOfType(events)) {
    const payload = checker.getTypeOfSymbol(event);
    const members = payload.isUnion() ? payload.types : [payload];
    const fields = new Map<string, Field>();
    const names = new Set(members.flatMap((m) => checker.getPropertiesOfType(m).map((p) => p.name)));
    for (const name of names) {
      let required = true;
      const kinds = new Set<string>();
      const strings = new Set<string>();
      let onlyLiterals = true;
      for (const m of members) {
        const p = checker.getPropertyOfType(m, name);
        if (!p || (p.flags & ts.SymbolFlags.Optional) !== 0) required = false;
        if (!p) continue;
        const t = checker.getTypeOfSymbol(p);
        for (const c of t.isUnion() ? t.types : [t]) {
          const f = c.flags;
          if (f & ts.TypeFlags.Undefined) continue;
          if (f & ts.TypeFlags.StringLiteral) strings.add((c as ts.StringLiteralType).value);
          else if (f & ts.TypeFlags.String) {
            kinds.add('string');
            onlyLiterals = false;
            continue;
          }
          if (f & ts.TypeFlags.StringLike) kinds.add('string');
          else if (f & ts.TypeFlags.NumberLike) kinds.add('number');
          else if (f & ts.TypeFlags.BooleanLike) kinds.add('boolean');
          else if (f & ts.TypeFlags.Null) kinds.add('null');
          else if (checker.isArrayType(c)) kinds.add('array');
          else if (f & ts.TypeFlags.Object) kinds.add('object');
          else kinds.add(`?${checker.typeToString(c)}`);
        }
      }
      fields.set(name, { required, kinds, strings: onlyLiterals && strings.size > 0 ? strings : null });
    }
    out.set(event.name, fields);
  }
  return out;
}

interface PropSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  oneOf?: PropSchema[];
}

function schemaField(p: PropSchema, required: boolean): Field {
  const kinds = new Set<string>();
  let strings: Set<string> | null = null;
  const values = p.enum ?? (p.const !== undefined ? [p.const] : null);
  if (values !== null) {
    for (const v of values) kinds.add(v === null ? 'null' : typeof v);
    if (values.every((v) => typeof v === 'string')) strings = new Set(values as string[]);
  }
  for (const t of p.type === undefined ? [] : Array.isArray(p.type) ? p.type : [p.type])
    kinds.add(t === 'integer' ? 'number' : t);
  if (p.oneOf) kinds.add('object');
  return { required, kinds, strings };
}

const show = (f: Field | undefined) =>
  f && { required: f.required, kinds: [...f.kinds].sort(), strings: f.strings && [...f.strings].sort() };

test('every event of the TypeScript catalogue has the fields, required-ness, JSON types and enums of its schema', () => {
  const ts = catalogue();
  assert.ok(ts.size >= 30, `${ts.size} events read from ServerEvents`);
  for (const [type, fields] of ts) {
    const schema = JSON.parse(readFileSync(path.join(EVENT_SCHEMAS_DIR, `${type}.json`), 'utf8')) as {
      required: string[];
      properties: Record<string, PropSchema>;
    };
    const names = Object.keys(schema.properties)
      .filter((n) => !ENVELOPE.has(n))
      .sort();
    assert.deepEqual(names, [...fields.keys()].sort(), `${type}: field names`);
    for (const [name, field] of fields) {
      const expected = schemaField(schema.properties[name]!, schema.required.includes(name));
      assert.deepEqual(show(field), show(expected), `${type}.${name}`);
    }
  }
});
