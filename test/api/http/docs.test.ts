import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp } from './testApp.ts';

interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      { responses: Record<string, unknown>; requestBody?: unknown; parameters?: { name: string; in: string }[] }
    >
  >;
  components: { schemas: Record<string, unknown> };
}

/** Every route of this layer; the document must describe each one. */
const ROUTES: [string, string, string][] = [
  ['post', '/endpoints', '201'],
  ['get', '/endpoints', '200'],
  ['get', '/endpoints/{id}', '200'],
  ['patch', '/endpoints/{id}', '200'],
  ['delete', '/endpoints/{id}', '204'],
  ['post', '/bridges', '201'],
  ['get', '/bridges', '200'],
  ['get', '/bridges/{id}', '200'],
  ['delete', '/bridges/{id}', '204'],
  ['get', '/events', '426'],
  ['get', '/health', '200'],
  ['get', '/ready', '200'],
  ['get', '/metrics', '200'],
];

test('GET /docs/json lists every route with its success reply, built from the shared schemas', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json<OpenApiDoc>();
  assert.equal(doc.openapi, '3.1.0');
  for (const [method, path, status] of ROUTES) {
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${path} documented`);
    assert.ok(op.responses[status], `${method.toUpperCase()} ${path} documents ${status}`);
  }
  for (const name of [
    'Endpoint',
    'EndpointStats',
    'CreateEndpointRequest',
    'UpdateEndpointRequest',
    'Bridge',
    'CreateBridgeRequest',
    'ApiError',
    'Direction',
    'CodecName',
  ]) {
    assert.ok(doc.components.schemas[name], `component ${name}`);
  }
  // bodies and replies point at the components, not inline copies
  assert.deepEqual(doc.paths['/endpoints']?.post?.requestBody, {
    required: true,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateEndpointRequest' } } },
  });
  assert.match(
    JSON.stringify(doc.paths['/endpoints/{id}']?.get?.responses['200']),
    /#\/components\/schemas\/Endpoint"/,
  );
  assert.match(
    JSON.stringify(doc.paths['/endpoints/{id}']?.get?.responses['404']),
    /#\/components\/schemas\/ApiError"/,
  );
  const since = doc.paths['/events']?.get?.parameters?.find((p) => p.name === 'since');
  assert.equal(since?.in, 'query');
  // the docs UI's own routes stay out of the document
  assert.equal(
    Object.keys(doc.paths).some((p) => p.startsWith('/docs')),
    false,
  );
});

test('GET /docs serves the Swagger UI page', async (t) => {
  const { app } = await createTestApp(t);
  const res = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  assert.match(res.body, /swagger-ui/i);
});

test('the document declares bearer auth only when a token is configured', async (t) => {
  const open = await createTestApp(t);
  const openDoc = (await open.app.inject({ method: 'GET', url: '/docs/json' })).json<{ security?: unknown }>();
  assert.equal(openDoc.security, undefined);
  const secured = await createTestApp(t, { token: 'tok' });
  const res = await secured.app.inject({ method: 'GET', url: '/docs/json', headers: { authorization: 'Bearer tok' } });
  assert.deepEqual(res.json<{ security?: unknown }>().security, [{ bearer: [] }]);
});

test('every operation declares the statuses any route can answer: 400, 500, 503; 413/415 with a body, 414 with a path parameter, 401 with a token', async (t) => {
  const { app } = await createTestApp(t, { token: 'tok' });
  const doc = (
    await app.inject({ method: 'GET', url: '/docs/json', headers: { authorization: 'Bearer tok' } })
  ).json<OpenApiDoc>();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const declared = Object.keys(op.responses);
      const expected = ['400', '500', '503'];
      if (p !== '/health') expected.push('401');
      if (method !== 'get') expected.push('413', '415');
      if (p.includes('{')) expected.push('414');
      for (const s of expected) assert.ok(declared.includes(s), `${method.toUpperCase()} ${p} declares ${s}`);
    }
  }
  // What the schema-less framework answers is what the document says: a path parameter over the
  // router's limit is 414 on a route that declares it.
  const long = await app.inject({
    method: 'GET',
    url: `/endpoints/${'x'.repeat(300)}`,
    headers: { authorization: 'Bearer tok' },
  });
  assert.equal(long.statusCode, 414);
  assert.ok(Object.keys(doc.paths['/endpoints/{id}']!.get!.responses).includes('414'));
});

test('GET /docs/json publishes the event catalogue: the envelope, one schema per event type, ServerEvent naming them all', async (t) => {
  const { app } = await createTestApp(t);
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApiDoc>();
  const names = Object.keys(doc.components.schemas);
  assert.ok(names.includes('EventEnvelope'));
  assert.ok(names.includes('EventsGap'));
  const events = names.filter((n) => n.startsWith('event.'));
  assert.ok(events.includes('event.endpoint.created') && events.includes('event.flow.step'), events.join(','));
  const union = doc.components.schemas.ServerEvent as { oneOf: { $ref: string }[] };
  assert.deepEqual(union.oneOf.map((r) => r.$ref).sort(), events.map((n) => `#/components/schemas/${n}`).sort());
  assert.match(JSON.stringify(doc.paths['/events']?.get), /ServerEvent/);
});
