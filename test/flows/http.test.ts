import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { FlowService } from '../../src/flows/FlowService.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { systemClock } from '../../src/flows/FlowEngines.ts';

/** A local webhook on 127.0.0.1 answering from a queue of statuses; records what it got. */
async function webhook(t: { after: (fn: () => unknown) => void }, statuses: number[]) {
  const got: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string; at: number }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now() });
      const status = statuses.length > 1 ? statuses.shift()! : (statuses[0] ?? 200);
      if (status === 0) {
        req.socket.destroy();
        return;
      } // connection reset
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'w-1', ok: status < 300, echo: body ? JSON.parse(body) : null }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  );
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function flowYaml(url: string, retries: number, fallback: boolean): string {
  return `
name: h
variables: { answer: "42" }
start: post
steps:
  post:
    type: http
    method: POST
    url: "${url}/hook?s={{ session_id }}"
    headers: { authorization: "Bearer {{ 'tok' }}" }
    body: { answer: "{{ number(answer) }}", who: "{{ caller.number }}" }
    timeout_ms: 2000
    retries: ${retries}
    retry_backoff_ms: 20
    result: res
    assign: { remote_id: response.body.id, echoed: response.body.echo.answer }
    ${fallback ? 'fallback: fb' : ''}
    next:
      - if: res.status == 201
        goto: created
      - goto: ok
  created: { type: return, values: { how: "'created'", id: remote_id, echoed: echoed } }
  ok: { type: return, values: { how: "'ok'" } }
  fb: { type: return, values: { how: "'fallback'", err: last_response.error, attempts: last_response.attempts } }
`;
}

async function run(yaml: string) {
  const engines = new FakeEngines({
    clock: systemClock,
    http: async (req) => {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal,
      });
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      return { status: res.status, headers, body: await res.text() };
    },
  });
  const service = new FlowService({ engines });
  service.put('h', yaml);
  const s = service.start('ep', 'h', { caller: { number: '+1555' } });
  const out = await s.done;
  service.close();
  return { out, engines };
}

test('http step retries 5xx and connection errors with backoff, then maps the response', async (t) => {
  const hook = await webhook(t, [503, 0, 201]);
  const { out } = await run(flowYaml(hook.url, 2, true));
  assert.deepEqual(out.outcome, { action: 'completed', variables: { how: 'created', id: 'w-1', echoed: 42 } });
  assert.equal(hook.got.length, 3);
  const first = hook.got[0]!;
  assert.equal(first.method, 'POST');
  assert.match(first.url, /^\/hook\?s=[0-9a-f-]{36}$/);
  assert.equal(first.headers.authorization, 'Bearer tok');
  assert.equal(first.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(first.body), { answer: 42, who: '+1555' });
  // Backoff 20 ms then 40 ms: the retries are spaced, not immediate.
  assert.ok(hook.got[1]!.at - first.at >= 15, `first retry after ${hook.got[1]!.at - first.at} ms`);
  assert.ok(hook.got[2]!.at - hook.got[1]!.at >= 35, `second retry after ${hook.got[2]!.at - hook.got[1]!.at} ms`);
});

test('http step takes the fallback when every attempt fails', async (t) => {
  const hook = await webhook(t, [500]);
  const { out } = await run(flowYaml(hook.url, 1, true));
  assert.deepEqual(out.outcome, { action: 'completed', variables: { how: 'fallback', err: 'HTTP 500', attempts: 2 } });
  assert.equal(hook.got.length, 2);
});

test('http step does not retry a 4xx, and fails the flow without a fallback', async (t) => {
  const hook = await webhook(t, [404]);
  const { out } = await run(flowYaml(hook.url, 3, false));
  assert.equal(out.outcome, null);
  assert.equal(out.error?.code, 'HTTP_FAILED');
  assert.equal(hook.got.length, 1);
});

test('http step times out a silent server and reports it', async (t) => {
  const server = http.createServer(() => {
    /* never answers */
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { out } = await run(flowYaml(url, 0, true).replace('timeout_ms: 2000', 'timeout_ms: 100'));
  assert.deepEqual(out.outcome, {
    action: 'completed',
    variables: { how: 'fallback', err: 'timeout after 100 ms', attempts: 1 },
  });
});
