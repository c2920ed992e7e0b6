import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { duplicateKeys } from '../helpers/jsonKeys.ts';
import { freeTcpPort, startMain, type MainProcess } from '../helpers/mainProcess.ts';
import { namingProblems, parseExposition, sampleValue, type Family } from '../helpers/promText.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';

/**
 * What an operator sees of a real server (npm start's entry) after some traffic: a relayed
 * call, a flow run to its end, webhook deliveries. /metrics (API and METRICS_PORT listener) is
 * read with a strict exposition parser; the log lines are checked for repeated keys; the shipped
 * Grafana dashboard may only query families the scrape has.
 */

const PROBE_FLOW = `name: metrics-probe
start: note
steps:
  note:
    type: log
    level: info
    message: "probe session running"
    next: out
  out:
    type: transfer
    target: "sip:queue@example.invalid"
`;

let main: MainProcess;
let apiScrape = '';
let operatorScrape = '';
let relayed = 0;
const cleanups: Array<() => unknown> = [];

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msc-observability-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'metrics-probe.yaml'), PROBE_FLOW);
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise((r) => {
        receiver.closeAllConnections();
        receiver.close(r);
      }),
  );

  const [port, metricsPort] = [await freeTcpPort(), await freeTcpPort()];
  main = startMain({
    API_PORT: String(port),
    METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'debug',
    FLOWS_DIR: dir,
    DRAIN_TIMEOUT_MS: '0',
    WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hook`,
  });
  cleanups.push(() => main.child.kill('SIGKILL'));
  await main.ready;
  const base = `http://127.0.0.1:${port}`;
  const post = async (p: string, body: unknown) => {
    const res = await fetch(`${base}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, any>;
    assert.equal(res.status, 201, JSON.stringify(json));
    return json;
  };

  const ws = new WebSocket(`ws://127.0.0.1:${port}/events`);
  cleanups.push(() => ws.close());
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const flowEnded = new Promise<Record<string, unknown>>((resolve) => {
    ws.on('message', (d) => {
      const e = JSON.parse(d.toString()) as Record<string, unknown>;
      if (e.type === 'flow.completed' || e.type === 'flow.failed') resolve(e);
    });
  });

  // a relayed call
  const [pa, pb, pc] = [await RtpPeer.open(), await RtpPeer.open(), await RtpPeer.open()];
  cleanups.push(() => {
    pa.close();
    pb.close();
    pc.close();
  });
  const a = await post('/endpoints', { remote_sdp: pa.offer(), affinity: 'call-1' });
  const b = await post('/endpoints', { remote_sdp: pb.offer(), affinity: 'call-1' });
  await post('/bridges', { endpoint_a: a.id, endpoint_b: b.id });
  relayed = 20;
  for (let i = 0; i < relayed; i++) pa.send(a.rtp_port, Buffer.alloc(160, i));
  await pb.waitFor(relayed);

  // a flow run to its end
  const c = await post('/endpoints', { remote_sdp: pc.offer() });
  await post(`/endpoints/${c.id}/flow`, { flow: 'metrics-probe' });
  const ended = await flowEnded;
  assert.equal(ended.type, 'flow.completed', JSON.stringify(ended));

  apiScrape = await (await fetch(`${base}/metrics`)).text();
  operatorScrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('/metrics: every family has HELP and TYPE, snake_case names in base units, counters end in _total', () => {
  const families = parseExposition(apiScrape);
  assert.deepEqual(namingProblems(families), []);
  const names = [...families.keys()];
  assert.ok(names.filter((n) => n.startsWith('msc_')).length >= 60, `msc_ families: ${names.length}`);
  // the operator listener (METRICS_PORT) serves the same families
  assert.deepEqual([...parseExposition(operatorScrape).keys()].sort(), names.sort());
});

test('/metrics: traffic, workers, flows, webhook and the process show with sensible values', () => {
  const f = parseExposition(apiScrape);
  const v = (name: string, labels: Record<string, string> = {}) => {
    const value = sampleValue(f, name, labels);
    assert.notEqual(value, undefined, `${name}${JSON.stringify(labels)} in the scrape`);
    return value!;
  };
  const w0 = { worker: '0' };
  assert.ok(v('msc_rtp_packets_relayed_total', w0) >= relayed);
  assert.ok(v('msc_rtp_packets_received_total', w0) >= relayed);
  assert.equal(v('msc_endpoints'), 3);
  assert.equal(v('msc_bridges'), 1);
  assert.equal(v('msc_endpoints_created_total'), 3);

  // the flow session, counted by flow and outcome, none left running
  assert.equal(v('msc_flow_sessions_total', { flow: 'metrics-probe', outcome: 'transfer' }), 1);
  assert.equal(v('msc_flow_sessions_active', { flow: 'metrics-probe' }), 0);

  // the media worker: heap within its limit, event loop lag and tick lateness in seconds
  const used = v('msc_worker_heap_used_bytes', w0);
  assert.ok(
    used > 1e6 && used <= v('msc_worker_heap_total_bytes', w0) && used < v('msc_worker_heap_limit_bytes', w0),
    `heap used ${used}`,
  );
  assert.ok(v('msc_worker_external_memory_bytes', w0) > 0);
  for (const q of ['p50', 'p99', 'max']) {
    const lag = v(`msc_worker_event_loop_lag_${q}_seconds`, w0);
    assert.ok(lag >= 0 && lag < 10, `${q} lag ${lag} s`);
  }
  assert.ok(v('msc_worker_event_loop_lag_p50_seconds', w0) <= v('msc_worker_event_loop_lag_max_seconds', w0));
  const ticks = v('msc_worker_tick_lateness_seconds_count', w0);
  assert.ok(ticks > 0, 'the media clock ran (the flow and the bridge tick on it)');
  const buckets = (f.get('msc_worker_tick_lateness_seconds') as Family).samples.filter(
    (s) => s.name.endsWith('_bucket') && s.labels.worker === '0',
  );
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative buckets');
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  assert.equal(buckets.at(-1)!.value, ticks);
  const sum = v('msc_worker_tick_lateness_seconds_sum', w0);
  assert.ok(sum >= 0 && sum / ticks < 1, `mean lateness ${sum / ticks} s`);

  // webhook queue figures
  assert.ok(v('msc_webhook_events_delivered_total') + v('msc_webhook_events_queued') > 0);
  assert.equal(v('msc_webhook_events_dropped_total', { reason: 'queue_full' }), 0);

  // the main process
  assert.ok(v('process_cpu_seconds_total') > 0);
  assert.ok(v('process_resident_memory_bytes') > 10e6);
  assert.ok(v('nodejs_eventloop_lag_p99_seconds') >= 0);
  assert.ok(v('msc_http_requests_total', { method: 'POST', route: '/endpoints', status_code: '201' }) >= 3);
});

test('log lines carry each key once', () => {
  const lines = main
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 5, main.output());
  const problems: string[] = [];
  for (const line of lines) {
    const dups = duplicateKeys(line);
    if (dups.length > 0) problems.push(`${dups.join(', ')} twice in ${line}`);
  }
  assert.deepEqual(problems, []);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  // the lines this run must have written: flows loaded, the flow's own log step, the API
  assert.ok(parsed.some((l) => l.module === 'flows' && l.msg === 'flow loaded'));
  assert.ok(
    parsed.some((l) => l.module === 'flows' && l.msg === 'probe session running' && l.flow === 'metrics-probe'),
  );
  assert.ok(parsed.some((l) => l.module === 'media-server'));
});

test('the Grafana dashboard queries only families the server exposes', () => {
  const dashboard = JSON.parse(fs.readFileSync('deploy/grafana/media-server.json', 'utf8')) as Record<string, any>;
  const families = parseExposition(apiScrape);
  const exprs: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [k, child] of Object.entries(node)) {
        if (k === 'expr' && typeof child === 'string') exprs.push(child);
        else walk(child);
      }
    }
  };
  walk(dashboard.panels);
  assert.ok(exprs.length >= 15, `${exprs.length} queries`);
  // the datasource is a variable, so the dashboard imports into any Grafana
  assert.ok(((dashboard.templating?.list ?? []) as Array<{ type: string }>).some((v) => v.type === 'datasource'));
  const missing = new Set<string>();
  const used = new Set<string>();
  for (const expr of exprs) {
    // metric names: identifiers of our prefixes, minus label names and functions
    for (const m of expr.matchAll(/\b((?:msc|process|nodejs)_[a-z0-9_]+)\b/g)) {
      const name = m[1]!;
      used.add(name);
      const family =
        families.has(name) ||
        ['_bucket', '_sum', '_count'].some(
          (s) => name.endsWith(s) && families.get(name.slice(0, -s.length))?.type === 'histogram',
        );
      if (!family) missing.add(name);
    }
  }
  assert.deepEqual([...missing], [], 'every metric the dashboard uses exists');
  for (const wanted of [
    'msc_rtp_packets_dropped_total',
    'msc_flow_sessions_total',
    'msc_worker_tick_lateness_seconds_bucket',
    'msc_webhook_events_queued',
    'process_cpu_seconds_total',
  ]) {
    assert.ok(used.has(wanted), `the dashboard shows ${wanted}`);
  }
});
