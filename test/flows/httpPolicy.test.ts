import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import { DestinationPolicy } from '../../src/common/net/DestinationPolicy.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { fetchHttp, guardedFetcher } from '../../src/flows/FlowEngines.ts';
import { FakeEngines } from '../../src/flows/testing/FakeEngines.ts';
import { systemClock } from '../../src/flows/FlowEngines.ts';
import { startServer } from '../helpers/server.ts';

/** An application server on 127.0.0.1: /hook answers JSON, /imds redirects to the metadata address, /big is 2 MiB. */
async function app(t: TestContext): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/imds') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    else if (req.url === '/big') res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

const get = (url: string) => ({ method: 'GET', url, headers: {}, signal: AbortSignal.timeout(5000) });

test('flow http steps reach the application on loopback but not metadata, directly or by redirect; answers are capped', async (t) => {
  const a = await app(t);
  const ok = await fetchHttp(get(`${a.base}/hook`));
  assert.equal(ok.status, 200);
  assert.equal(ok.body, '{"ok":true}');
  await assert.rejects(
    fetchHttp(get('http://169.254.169.254/latest/meta-data/')),
    /destination refused or unreachable/,
  );
  await assert.rejects(fetchHttp(get('http://metadata.google.internal/')), /destination refused or unreachable/);
  await assert.rejects(fetchHttp(get(`${a.base}/imds`)), /destination refused or unreachable/);
  await assert.rejects(fetchHttp(get(`${a.base}/big`)), /answer larger than 1048576 bytes/);
  assert.deepEqual(a.hits, ['/hook', '/imds', '/big']);
});

test('a flow http step to a refused destination takes its fallback with one generic error', async () => {
  const engines = new FakeEngines({
    clock: systemClock,
    http: guardedFetcher(new DestinationPolicy({ allowLocal: true })),
  });
  const service = new FlowService({ engines });
  service.put(
    'h',
    `
name: h
start: post
steps:
  post:
    type: http
    url: "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    timeout_ms: 2000
    retries: 0
    fallback: fb
    next: done
  done: { type: return, values: { how: "'ok'" } }
  fb: { type: return, values: { how: "'fallback'", err: last_response.error } }
`,
  );
  const out = await service.start('ep', 'h', {}).done;
  service.close();
  assert.deepEqual(out.outcome, {
    action: 'completed',
    variables: { how: 'fallback', err: 'destination refused or unreachable' },
  });
});

test('MediaFlowEngines applies FLOW_HTTP_DENY to http steps', async (t) => {
  const a = await app(t);
  const server = await startServer({ FLOW_HTTP_DENY: '127.0.0.1' });
  t.after(() => server.close());
  const engines = MediaFlowEngines.forServer(server);
  await assert.rejects(engines.http!(get(`${a.base}/hook`)), /destination refused or unreachable/);
  assert.deepEqual(a.hits, []);
});
