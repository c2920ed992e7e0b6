import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { freeTcpPort, startMain } from '../helpers/mainProcess.ts';

/** The README's walk-through against the real process: npm start's entry, REST, events, SIGTERM. */

test('npm start entry: REST walk-through, events over WebSocket, SIGTERM exits 0', async (t) => {
  const port = await freeTcpPort();
  // DRAIN_TIMEOUT_MS=0: SIGTERM stops at once with the call still up (drain.test.ts covers waiting)
  const main = startMain({ API_PORT: String(port), API_TOKEN: 'secret', DRAIN_TIMEOUT_MS: '0' });
  t.after(() => main.child.kill('SIGKILL'));
  await main.ready;
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: 'Bearer secret', 'content-type': 'application/json' };

  assert.equal((await fetch(`${base}/endpoints`)).status, 401, 'the token is required');

  const events: Array<{ seq: number; type: string }> = [];
  const ws = new WebSocket(`ws://127.0.0.1:${port}/events`, { headers: { authorization: 'Bearer secret' } });
  ws.on('message', (d) => events.push(JSON.parse(d.toString())));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  t.after(() => ws.close());

  const [pa, pb] = [await RtpPeer.open(), await RtpPeer.open()];
  t.after(() => {
    pa.close();
    pb.close();
  });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const a = await post('/endpoints', { remote_sdp: pa.offer(), affinity: 'call-1' });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  assert.ok(a.body.sdp.includes(`m=audio ${a.body.rtp_port}`));
  const b = await post('/endpoints', { remote_sdp: pb.offer(), affinity: 'call-1' });
  const bridge = await post('/bridges', { endpoint_a: a.body.id, endpoint_b: b.body.id });
  assert.equal(bridge.status, 201);
  for (let i = 0; i < 5; i++) pa.send(a.body.rtp_port, Buffer.alloc(160, i));
  await pb.waitFor(5);

  const bad = await post('/endpoints', { remote_sdp: 'nonsense' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'INVALID_SDP');
  const missing = await fetch(`${base}/endpoints/does-not-exist`, { headers: auth });
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as any).error.code, 'ENDPOINT_NOT_FOUND');
  const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
  assert.match(metrics, /msc_rtp_packets_relayed_total\{worker="0"\} 5/);

  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ['endpoint.created', 'endpoint.created', 'bridge.created']);
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq);

  const started = Date.now();
  main.child.kill('SIGTERM');
  const code = await main.exited;
  assert.equal(code, 0, main.output());
  assert.ok(Date.now() - started < 5000, 'exits within a few seconds');
});

test('binding the API beyond loopback without a token refuses to start', async () => {
  const main = startMain({ API_HOST: '0.0.0.0', API_PORT: String(await freeTcpPort()) });
  const code = await main.exited;
  assert.notEqual(code, 0);
  assert.match(main.output(), /API_TOKEN/);
});

test('npm start entry: WEBHOOK_URL + WEBHOOK_SECRET deliver signed events and export msc_webhook_* on /metrics', async (t) => {
  const secret = 'a-raw-secret-for-this-test-only';
  const got: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  let arrived: () => void = () => undefined;
  const first = new Promise<void>((r) => (arrived = r));
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
      if ((JSON.parse(body) as Array<{ type: string }>).some((e) => e.type === 'endpoint.created')) arrived();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise((r) => {
        receiver.closeAllConnections();
        receiver.close(r);
      }),
  );
  const port = await freeTcpPort();
  const main = startMain({
    API_PORT: String(port),
    WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hook`,
    WEBHOOK_SECRET: secret,
    // SIGTERM with the endpoint still up stops at once (drain.test.ts covers waiting)
    DRAIN_TIMEOUT_MS: '0',
  });
  t.after(() => main.child.kill('SIGKILL'));
  await main.ready;
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const res = await fetch(`http://127.0.0.1:${port}/endpoints`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ remote_sdp: peer.offer() }),
  });
  assert.equal(res.status, 201);
  await first;
  for (const { headers, body } of got) {
    const expected = createHmac('sha256', secret)
      .update(`${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`)
      .digest('base64');
    assert.equal(headers['webhook-signature'], `v1,${expected}`);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^msc_webhook_events_delivered_total [1-9]\d*$/m);
  assert.match(metrics, /^msc_webhook_events_dropped_total\{reason="queue_full"\} 0$/m);
  main.child.kill('SIGTERM');
  assert.equal(await main.exited, 0);
});
