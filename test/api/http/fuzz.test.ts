import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/http/app.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { MediaFlowEngines } from '../../../src/control/MediaFlowEngines.ts';
import { FlowService } from '../../../src/flows/FlowService.ts';
import { startServer, testPortRange } from '../../helpers/server.ts';
import { offerSdp } from './testApp.ts';

/**
 * A fuzz test of the REST API generated from its own OpenAPI document (/docs/json), over the real
 * MediaServer with every route group registered: random valid-ish and invalid path parameters,
 * queries and bodies derived from each operation's schemas. No reply may be a 5xx, every status
 * must be one the document declares for that operation, and every error must be
 * {error: {code, message}}. Fixed seed, bounded count.
 */
const SEED = 20261206;
const RUNS = 700;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, unknown>;

interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: string; schema: Schema; required: boolean }>;
  body: { type: string; schema: Schema } | null;
  statuses: Set<string>;
}

interface FuzzRequest {
  op: number;
  pathValues: string[];
  query: Record<string, string>;
  body: { kind: 'json'; value: Json } | { kind: 'raw'; contentType: string; text: string } | { kind: 'none' };
}

function resolve(doc: Schema, s: Schema): Schema {
  let cur = s;
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
    const ref = cur.$ref as string;
    if (!ref.startsWith('#/')) return {};
    let at: unknown = doc;
    for (const part of ref.slice(2).split('/'))
      at = (at as Record<string, unknown>)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    cur = (at as Schema | undefined) ?? {};
  }
  return cur;
}

/** Strings a media server's fields meet: SDP (good and hostile), ids, paths, YAML, odd text. */
const INTERESTING_STRINGS = [
  '',
  ' ',
  'a',
  'x'.repeat(300),
  '../../etc/passwd',
  '%00',
  '\u0000',
  '😀',
  'null',
  '-1',
  '1e309',
  offerSdp(),
  offerSdp(40000).replace('192.0.2.10', '255.255.255.255'),
  offerSdp(80),
  offerSdp(40000, '0 8 101').replace('a=sendrecv', 'a=ptime:0'),
  'v=0\r\n',
  'name: x\nstart: a\nsteps:\n  a: { type: hangup }\n',
  'a: &a [*a, *a]',
  'pcmu',
  'opus',
  'sendrecv',
  'inactive',
  'wav',
  '00000000-0000-0000-0000-000000000000',
  'tone:440:100',
  'silence:100',
  'http://169.254.169.254/latest',
  '1234#',
];

/** SDP offers a B2BUA would pass on, and the hostile variants of issue 8 (broadcast, odd ptime, low ports). */
const sdpArb: fc.Arbitrary<Json> = fc
  .tuple(
    fc.integer({ min: 1, max: 65535 }),
    fc.constantFrom('', 'ptime', 'broadcast', 'multicast', 'hold'),
    fc.constantFrom('0', '-20', '1e9', '30', '0.5'),
  )
  .map(([port, variant, ptime]) => {
    const sdp = offerSdp(port);
    switch (variant) {
      case 'ptime':
        return sdp.replace('a=sendrecv', `a=ptime:${ptime}`);
      case 'broadcast':
        return sdp.replace(/192\.0\.2\.10/g, '255.255.255.255');
      case 'multicast':
        return sdp.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 239.1.2.3/16');
      case 'hold':
        return sdp.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 0.0.0.0');
      default:
        return sdp;
    }
  });

function stringArb(s: Schema, depth = 0): fc.Arbitrary<string> {
  const valid: Array<fc.Arbitrary<string>> = [];
  const minLength = typeof s.minLength === 'number' ? s.minLength : 0;
  const maxLength = typeof s.maxLength === 'number' ? Math.min(s.maxLength, 64) : 24;
  if (Array.isArray(s.enum)) valid.push(fc.constantFrom(...(s.enum as string[])));
  else if (typeof s.pattern === 'string') {
    try {
      valid.push(
        fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= minLength && x.length <= maxLength),
      );
    } catch {
      /* not a JS pattern */
    }
  }
  if (valid.length === 0) valid.push(fc.string({ minLength: Math.min(minLength, maxLength), maxLength }));
  const odd = depth === 0 ? 4 : 1;
  return fc.oneof(
    { arbitrary: fc.oneof(...valid), weight: 24 },
    { arbitrary: fc.constantFrom(...INTERESTING_STRINGS), weight: odd },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: odd },
  );
}

/** Mostly schema-shaped values (so the request reaches the handler), sometimes anything. */
function valueArb(doc: Schema, raw: Schema, depth: number): fc.Arbitrary<Json> {
  const s = resolve(doc, raw);
  const anything = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
  if (depth > 4) return anything;
  const options: Array<fc.Arbitrary<Json>> = [];
  if ('const' in s) options.push(fc.constant(s.const as Json));
  if (Array.isArray(s.enum)) options.push(fc.constantFrom(...(s.enum as Json[])));
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(s[key])) options.push(fc.oneof(...(s[key] as Schema[]).map((x) => valueArb(doc, x, depth + 1))));
  }
  if (Array.isArray(s.allOf) && s.allOf.length > 0)
    options.push(valueArb(doc, Object.assign({}, ...(s.allOf as Schema[]).map((x) => resolve(doc, x))), depth + 1));
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  if (types.length === 0 && s.properties) types.push('object');
  for (const t of types) {
    switch (t) {
      case 'string':
        if (!Array.isArray(s.enum)) options.push(stringArb(s, depth));
        break;
      case 'integer':
      case 'number': {
        if (Array.isArray(s.enum)) break;
        const min = typeof s.minimum === 'number' ? s.minimum : -1000;
        const max = typeof s.maximum === 'number' ? s.maximum : 100_000;
        const edges = fc.constantFrom(min, max, min - 1, max + 1, 0, -1, 2 ** 31, 1.5);
        options.push(
          fc.oneof(
            {
              arbitrary: fc.integer({ min: Math.ceil(Math.max(min, -1e9)), max: Math.floor(Math.min(max, 1e9)) }),
              weight: 3,
            },
            { arbitrary: edges, weight: 1 },
          ),
        );
        break;
      }
      case 'boolean':
        options.push(fc.boolean());
        break;
      case 'null':
        options.push(fc.constant(null));
        break;
      case 'array': {
        const items = s.items ? valueArb(doc, s.items as Schema, depth + 1) : anything;
        const minItems = typeof s.minItems === 'number' ? s.minItems : 0;
        options.push(
          (s.uniqueItems === true ? fc.uniqueArray : fc.array)(items, {
            minLength: minItems,
            maxLength: Math.max(minItems, typeof s.maxItems === 'number' ? Math.min(s.maxItems, 5) : 4),
          }),
        );
        break;
      }
      case 'object': {
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const required = new Set((s.required ?? []) as string[]);
        const record: Record<string, fc.Arbitrary<Json>> = {};
        for (const [k, v] of Object.entries(props))
          record[k] = k.includes('sdp')
            ? fc.oneof({ arbitrary: sdpArb, weight: 4 }, { arbitrary: valueArb(doc, v, depth + 1), weight: 1 })
            : valueArb(doc, v, depth + 1);
        const requiredKeys = Object.keys(props).filter((k) => required.has(k));
        options.push(fc.record(record, { requiredKeys }) as fc.Arbitrary<Json>);
        break;
      }
      default:
        break;
    }
  }
  if (options.length === 0) return anything;
  // Off-schema values are rarer deep inside, where one spoils the whole body.
  return fc.oneof(
    { arbitrary: fc.oneof(...options), weight: depth === 0 ? 9 : 30 },
    { arbitrary: anything, weight: 1 },
  );
}

function requestArb(doc: Schema, ops: Operation[], ids: () => string[]): fc.Arbitrary<FuzzRequest> {
  return fc.integer({ min: 0, max: ops.length - 1 }).chain((op) => {
    const o = ops[op]!;
    const pathParams = o.params.filter((p) => p.in === 'path');
    const queryParams = o.params.filter((p) => p.in === 'query');
    const pathValue = fc.oneof(
      { arbitrary: fc.constant('@existing'), weight: 3 },
      { arbitrary: fc.uuid(), weight: 2 },
      { arbitrary: fc.string({ maxLength: 20 }), weight: 2 },
      {
        arbitrary: fc.constantFrom(
          'x'.repeat(129),
          'x'.repeat(300),
          '%',
          '%ZZ',
          '..',
          '%2e%2e',
          'a%2Fb',
          '%00',
          'main-menu',
        ),
        weight: 1,
      },
    );
    const query = fc.record(
      Object.fromEntries(
        queryParams.map((p) => [
          p.name,
          fc.oneof(stringArb(resolve(doc, p.schema)), fc.constant('1'), fc.constant('open')),
        ]),
      ),
      { requiredKeys: [] },
    );
    const junkQuery = fc.dictionary(
      fc.constantFrom('since', 'token', 'x', 'status', 'limit'),
      fc.string({ maxLength: 8 }),
      { maxKeys: 2 },
    );
    const bodyType = o.body?.type ?? 'application/json';
    const body = fc.oneof(
      {
        arbitrary: (o.body ? valueArb(doc, o.body.schema, 0) : fc.jsonValue({ maxDepth: 1 })).map((value) =>
          bodyType === 'application/json'
            ? { kind: 'json' as const, value: value as Json }
            : {
                kind: 'raw' as const,
                contentType: bodyType,
                text: typeof value === 'string' ? value : JSON.stringify(value),
              },
        ),
        weight: 8,
      },
      { arbitrary: fc.constant({ kind: 'none' as const }), weight: 1 },
      {
        arbitrary: fc.record({
          kind: fc.constant('raw' as const),
          contentType: fc.constantFrom(
            'application/json',
            'text/plain',
            'text/yaml',
            'application/x-www-form-urlencoded',
          ),
          text: fc.oneof(
            fc.string({ maxLength: 30 }),
            fc.constantFrom('{', '[]', 'null', '{"__proto__":{"x":1}}', '"a"', 'x'.repeat(2 * 1024 * 1024)),
          ),
        }),
        weight: 1,
      },
    );
    return fc
      .record({
        op: fc.constant(op),
        pathValues: fc.array(pathValue, { minLength: pathParams.length, maxLength: pathParams.length }),
        query: fc.oneof(query, junkQuery) as fc.Arbitrary<Record<string, string>>,
        body: o.method === 'get' || o.method === 'head' ? fc.constant({ kind: 'none' as const }) : body,
      })
      .map((r) => {
        const existing = ids();
        return {
          ...r,
          pathValues: r.pathValues.map((v, i) =>
            v === '@existing' ? (existing[(r.op + i) % Math.max(1, existing.length)] ?? 'none') : v,
          ),
        };
      });
  });
}

function operationsOf(doc: Schema): Operation[] {
  const ops: Operation[] = [];
  for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, Schema>>)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      // draining ends the server's intake for good: every later request would be a 503 (drain.test.ts)
      if (p === '/admin/drain') continue;
      const content = ((op.requestBody as Schema | undefined)?.content ?? {}) as Record<string, { schema: Schema }>;
      const bodyType = Object.keys(content)[0];
      ops.push({
        method,
        path: p,
        params: ((op.parameters ?? []) as Array<{ name: string; in: string; schema: Schema; required?: boolean }>).map(
          (x) => ({ ...x, required: x.required === true }),
        ),
        body: bodyType === undefined ? null : { type: bodyType, schema: content[bodyType]!.schema },
        statuses: new Set(Object.keys(op.responses as Record<string, unknown>)),
      });
    }
  }
  return ops;
}

async function fuzzApp(t: TestContext, token: string | null = null): Promise<FastifyInstance> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msc-fuzz-'));
  mkdirSync(path.join(dir, 'flows'));
  mkdirSync(path.join(dir, 'recordings'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({
    ...testPortRange(1000),
    RECORDINGS_DIR: path.join(dir, 'recordings'),
    FLOWS_DIR: path.join(dir, 'flows'),
    PROMPTS_DIR: path.resolve('prompts'),
  });
  t.after(() => server.close());
  const flows = new FlowService({
    engines: MediaFlowEngines.forServer(server),
    dir: path.join(dir, 'flows'),
    emit: server.events.forFlows(),
  });
  t.after(() => flows.close());
  flows.put('main-menu', 'name: main-menu\nstart: bye\nsteps:\n  bye: { type: hangup, cause: done }\n');
  const app = await buildApp({
    control: server,
    config: { ...server.config, apiToken: token },
    logger: silentLogger,
    flows,
  });
  t.after(() => app.close());
  await app.ready();
  return app;
}

/** Runs `runs` generated requests; `auth` gives each one's Authorization header, if any. */
async function fuzz(
  app: FastifyInstance,
  seed: number,
  runs: number,
  auth: (i: number) => string | null,
): Promise<string[]> {
  const docAuth = auth(0);
  const doc = (
    await app.inject({ method: 'GET', url: '/docs/json', headers: docAuth ? { authorization: docAuth } : {} })
  ).json<Schema>();
  const ops = operationsOf(doc);
  assert.ok(ops.length > 20, `the document lists the routes (${ops.length})`);
  // Ids of objects the fuzz created, so that some requests reach live objects.
  const known: string[] = [];
  const requests = fc.sample(
    requestArb(doc, ops, () => known),
    { seed, numRuns: runs },
  );
  const failures: string[] = [];
  for (const [n, r] of requests.entries()) {
    const o = ops[r.op]!;
    let i = 0;
    const url = o.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(r.pathValues[i++] ?? '').replace(/%25/g, '%'));
    const query = new URLSearchParams(r.query).toString();
    const headers: Record<string, string> = {};
    const authorization = auth(n);
    if (authorization !== null) headers.authorization = authorization;
    let payload: string | undefined;
    if (r.body.kind === 'json') {
      payload = JSON.stringify(r.body.value);
      headers['content-type'] = 'application/json';
    } else if (r.body.kind === 'raw') {
      payload = r.body.text;
      headers['content-type'] = r.body.contentType;
    }
    const method = o.method.toUpperCase() as 'GET';
    const res = await app.inject({
      method,
      url: query ? `${url}?${query}` : url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    const what = `${method} ${url}${query ? `?${query}` : ''} ${payload === undefined ? '' : payload.slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 200)}`;
    if (res.statusCode >= 500) failures.push(`5xx: ${what}`);
    if (!o.statuses.has(String(res.statusCode)))
      failures.push(`undeclared ${res.statusCode} for ${method} ${o.path}: ${what}`);
    if (res.statusCode >= 400) {
      let body: { error?: { code?: unknown; message?: unknown } } = {};
      try {
        body = res.json();
      } catch {
        /* checked below */
      }
      if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string')
        failures.push(`error shape: ${what}`);
    } else if (res.statusCode < 300 && res.headers['content-type']?.toString().startsWith('application/json')) {
      const id = (res.json() as { id?: unknown }).id;
      if (typeof id === 'string') known.push(id);
    }
  }
  return failures;
}

test('REST API fuzz from /docs/json: no 5xx, no undeclared status, every error is {error:{code,message}}', {
  timeout: 120_000,
}, async (t) => {
  const app = await fuzzApp(t);
  assert.deepEqual(await fuzz(app, SEED, RUNS, () => null), []);
});

test('REST API fuzz with API_TOKEN: requests without the token or with a wrong one get the declared 401', {
  timeout: 120_000,
}, async (t) => {
  const app = await fuzzApp(t, 'fuzz-token');
  const headers = ['Bearer fuzz-token', null, 'Bearer wrong', 'Basic Zm9v'];
  assert.deepEqual(await fuzz(app, SEED + 1, 200, (i) => headers[i % headers.length]!), []);
});
