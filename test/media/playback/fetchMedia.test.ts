import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationError } from '../../../src/common/errors.ts';
import { DestinationPolicy } from '../../../src/common/net/DestinationPolicy.ts';
import { fetchMedia } from '../../../src/media/playback/fetchMedia.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server on 127.0.0.1 recording the requests it got. */
async function server(
  t: TestContext,
  handler: Handler = (_req, res) => res.end('audio'),
): Promise<{ port: number; requests: IncomingMessage[]; close: () => Promise<void> }> {
  const requests: IncomingMessage[] = [];
  const srv = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  let closed = false;
  const close = () =>
    new Promise<void>((r) => {
      if (closed) return r();
      closed = true;
      srv.closeAllConnections();
      srv.close(() => r());
    });
  t.after(close);
  return { port: (srv.address() as AddressInfo).port, requests, close };
}

const LOOPBACK_ALLOWED = new DestinationPolicy({ allow: ['127.0.0.1'] });

async function failure(p: Promise<unknown>): Promise<ValidationError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err;
  }
  assert.fail('resolved');
}

test("fetchMedia() refuses loopback by default (the server's own API and /metrics) without connecting", async (t) => {
  const s = await server(t);
  const err = await failure(fetchMedia(`http://127.0.0.1:${s.port}/metrics`));
  assert.equal(err.code, 'MEDIA_FETCH_FAILED');
  assert.equal(err.message, `GET http://127.0.0.1:${s.port}/metrics: destination refused or unreachable`);
  for (const url of [
    `http://localhost:${s.port}/x.wav`,
    `http://[::ffff:127.0.0.1]:${s.port}/x.wav`,
    `http://0x7f000001:${s.port}/x.wav`,
    `http://2130706433:${s.port}/x.wav`,
  ]) {
    assert.equal((await failure(fetchMedia(url))).code, 'MEDIA_FETCH_FAILED', url);
  }
  assert.equal(s.requests.length, 0, 'nothing reached the server');
  // the exception lets the same URL through
  assert.equal(
    new TextDecoder().decode(await fetchMedia(`http://127.0.0.1:${s.port}/metrics`, { policy: LOOPBACK_ALLOWED })),
    'audio',
  );
});

test('fetchMedia() checks the address a host name resolves to (localhost), not the name', async (t) => {
  const s = await server(t);
  // localhost is not a denied name; its addresses are
  assert.equal(
    (
      await failure(
        fetchMedia(`http://localhost:${s.port}/a.wav`, { policy: new DestinationPolicy({ allow: ['10.0.0.0/8'] }) }),
      )
    ).code,
    'MEDIA_FETCH_FAILED',
  );
  assert.equal(s.requests.length, 0);
  // only the allowed address of the name is used (::1 is not allowed, 127.0.0.1 is)
  assert.equal(
    new TextDecoder().decode(await fetchMedia(`http://localhost:${s.port}/a.wav`, { policy: LOOPBACK_ALLOWED })),
    'audio',
  );
  assert.equal(s.requests.length, 1);
});

test('fetchMedia() answers a refused destination and a closed port with the same text', async (t) => {
  const s = await server(t);
  const url = `http://127.0.0.1:${s.port}/x.wav`;
  const refused = await failure(fetchMedia(url)); // open port, refused by the policy
  await s.close();
  const closed = await failure(fetchMedia(url, { policy: LOOPBACK_ALLOWED })); // allowed, nothing listens
  const unresolvable = await failure(fetchMedia(`http://no-such-host.invalid/x.wav`));
  assert.equal(refused.code, closed.code);
  assert.equal(refused.message, closed.message);
  assert.doesNotMatch(closed.message, /ECONNREFUSED|ENOTFOUND|connect/i);
  assert.equal(unresolvable.message, 'GET http://no-such-host.invalid/x.wav: destination refused or unreachable');
  // operators get the reason through onUnreachable
  const details: string[] = [];
  await failure(fetchMedia(url, { policy: LOOPBACK_ALLOWED, onUnreachable: (_u, d) => details.push(d) }));
  assert.match(details[0] ?? '', /ECONNREFUSED/);
});

test('fetchMedia() checks every redirect hop: to metadata, to a denied name, to IPv6 loopback; bounded count', async (t) => {
  let loops = 0;
  const s = await server(t, (req, res) => {
    const to: Record<string, string> = {
      '/imds': 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      '/gcp': 'http://metadata.google.internal/computeMetadata/v1/',
      '/v6': `http://[::1]:${req.socket.localPort ?? 0}/secret`,
      '/ok': '/final.wav',
    };
    if (req.url === '/loop') {
      loops++;
      res.writeHead(302, { location: '/loop' }).end();
      return;
    }
    const location = to[req.url ?? ''];
    if (location !== undefined) res.writeHead(302, { location }).end();
    else res.end('final');
  });
  const base = `http://127.0.0.1:${s.port}`;
  for (const path of ['/imds', '/gcp', '/v6']) {
    const err = await failure(fetchMedia(`${base}${path}`, { policy: LOOPBACK_ALLOWED }));
    assert.equal(err.message, `GET ${base}${path}: destination refused or unreachable`, path);
  }
  assert.deepEqual(
    s.requests.map((r) => r.url),
    ['/imds', '/gcp', '/v6'],
    'no hop went beyond the first',
  );
  assert.equal(new TextDecoder().decode(await fetchMedia(`${base}/ok`, { policy: LOOPBACK_ALLOWED })), 'final');
  const err = await failure(fetchMedia(`${base}/loop`, { policy: LOOPBACK_ALLOWED }));
  assert.match(err.message, /more than 5 redirects/);
  assert.equal(loops, 6);
});

test('fetchMedia() drops credentials on a redirect to another origin and keeps them on the same one', async (t) => {
  const seen: Array<[string | undefined, string | undefined]> = [];
  const s = await server(t, (req, res) => {
    seen.push([req.url, req.headers.authorization]);
    if (req.url === '/same') res.writeHead(307, { location: '/after-same' }).end();
    else if (req.url === '/cross')
      res.writeHead(307, { location: `http://localhost:${req.socket.localPort ?? 0}/after-cross` }).end();
    else res.end('ok');
  });
  const opts = { policy: LOOPBACK_ALLOWED, headers: { authorization: 'Bearer k' } };
  await fetchMedia(`http://127.0.0.1:${s.port}/same`, opts);
  await fetchMedia(`http://127.0.0.1:${s.port}/cross`, opts);
  assert.deepEqual(seen, [
    ['/same', 'Bearer k'],
    ['/after-same', 'Bearer k'],
    ['/cross', 'Bearer k'],
    ['/after-cross', undefined],
  ]);
});
