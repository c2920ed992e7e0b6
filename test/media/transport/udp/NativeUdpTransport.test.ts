import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadNativeUdp, resolveUdpIo } from '../../../../src/common/nativeUdp.ts';
import { loadConfig } from '../../../../src/config/config.ts';
import { RtpEndpoint } from '../../../../src/media/transport/RtpEndpoint.ts';
import { DgramTransport } from '../../../../src/media/transport/udp/DgramTransport.ts';
import { NativeUdpTransport, nativeUdpStats } from '../../../../src/media/transport/udp/NativeUdpTransport.ts';
import type { UdpRemote, UdpTransport } from '../../../../src/media/transport/udp/UdpTransport.ts';
import { needs } from '../../../helpers/peers.ts';

// The addon is built at install wherever this toolchain is (CI installs it): there it must load.
const toolchain = needs('g++', 'make', 'python3');
const root = path.resolve(import.meta.dirname, '../../../..');

function peer(type: 'udp4' | 'udp6' = 'udp4', address = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  return new Promise((resolve) => s.bind(0, address, () => resolve(s)));
}

/** Collects what a transport receives (copies: the datagram's memory is the handler's for the call only). */
function collect(t: UdpTransport): Array<{ data: Buffer; address: string; port: number }> {
  const got: Array<{ data: Buffer; address: string; port: number }> = [];
  t.onMessage = (msg: Buffer, r: UdpRemote) => got.push({ data: Buffer.from(msg), address: r.address, port: r.port });
  return got;
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const implementations: Array<[string, (family: 4 | 6) => UdpTransport, { skip?: string }]> = [
  ['DgramTransport', (f) => new DgramTransport(f), {}],
  ['NativeUdpTransport', (f) => new NativeUdpTransport(f), toolchain],
];

for (const [name, make, opts] of implementations) {
  test(
    `${name} exchanges datagrams with a node:dgram peer on 127.0.0.1, with the source address and port`,
    opts,
    async (t) => {
      const sock = make(4);
      t.after(() => sock.close());
      await sock.bind('127.0.0.1', 0);
      const local = sock.address();
      assert.equal(local.address, '127.0.0.1');
      assert.ok(local.port > 0);
      const p = await peer();
      t.after(() => p.close());
      const got = collect(sock);
      for (let i = 0; i < 20; i++) p.send(Buffer.from(`to-${i}`), local.port, '127.0.0.1');
      await until(() => got.length === 20, '20 datagrams');
      assert.deepEqual(
        got.map((g) => g.data.toString()),
        Array.from({ length: 20 }, (_, i) => `to-${i}`),
      );
      for (const g of got) {
        assert.equal(g.address, '127.0.0.1');
        assert.equal(g.port, p.address().port);
      }
      const back: string[] = [];
      p.on('message', (m) => back.push(m.toString()));
      // One buffer, rewritten after every send: what leaves is what it held at send().
      const buf = Buffer.alloc(16);
      for (let i = 0; i < 20; i++) {
        const n = buf.write(`xfrom-${i}`);
        sock.send(buf, 1, n - 1, p.address().port, '127.0.0.1');
        if (sock.io === 'native') buf.fill(0x21);
      }
      await until(() => back.length === 20, '20 replies');
      assert.deepEqual(
        back,
        Array.from({ length: 20 }, (_, i) => `from-${i}`),
      );
    },
  );

  test(`${name} binds a taken port with EADDRINUSE and close() is idempotent`, opts, async (t) => {
    const a = make(4);
    t.after(() => a.close());
    await a.bind('127.0.0.1', 0);
    const b = make(4);
    await assert.rejects(b.bind('127.0.0.1', a.address().port), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, /EADDRINUSE/); // MediaServer retries on the message
      return true;
    });
    b.close();
    b.close();
    a.close();
    a.close();
    // A send after close goes nowhere and throws nothing.
    a.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1');
  });
}

test(
  'NativeUdpTransport takes a whole burst from many sockets in a few JS calls and flushes sends with sendmmsg',
  toolchain,
  async (t) => {
    const socks: NativeUdpTransport[] = [];
    t.after(() => {
      for (const s of socks) s.close();
    });
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      const s = new NativeUdpTransport(4);
      await s.bind('127.0.0.1', 0);
      counts.push(0);
      s.onMessage = () => {
        counts[i]!++;
      };
      socks.push(s);
    }
    const src = new NativeUdpTransport(4);
    socks.push(src);
    await src.bind('127.0.0.1', 0);
    const before = nativeUdpStats()!;
    const payload = Buffer.alloc(172, 7);
    // 8 sockets x 25 packets queued in one turn: the queue leaves by socket runs of sendmmsg.
    for (let k = 0; k < 25; k++)
      for (const s of socks.slice(0, 8)) src.send(payload, 0, 172, s.address().port, '127.0.0.1');
    await until(() => counts.every((c) => c === 25), '200 datagrams');
    const after = nativeUdpStats()!;
    const sent = after.sendPackets - before.sendPackets;
    const received = after.recvPackets - before.recvPackets;
    assert.equal(sent, 200);
    assert.equal(received, 200);
    // All from one socket in one turn: one sendmmsg per full queue (256), not one call per packet.
    assert.ok(after.sendCalls - before.sendCalls <= 2, `sendmmsg calls ${after.sendCalls - before.sendCalls}`);
    // recvmmsg takes up to 32 per call, and the arena of 64 goes to JS in one call.
    assert.ok(
      after.recvCalls - before.recvCalls < received / 4,
      `recvmmsg calls ${after.recvCalls - before.recvCalls}`,
    );
    assert.ok(after.deliveries - before.deliveries < received / 8, `JS calls ${after.deliveries - before.deliveries}`);
  },
);

test(
  'NativeUdpTransport on IPv6: ::1, and a dual-stack socket sees IPv4 peers as ::ffff: addresses',
  toolchain,
  async (t) => {
    const s = new NativeUdpTransport(6);
    t.after(() => s.close());
    await s.bind('::1', 0);
    assert.deepEqual({ address: s.address().address, family: s.address().family }, { address: '::1', family: 'IPv6' });
    const p = await peer('udp6', '::1');
    t.after(() => p.close());
    const got = collect(s);
    p.send(Buffer.from('six'), s.address().port, '::1');
    await until(() => got.length === 1, 'an IPv6 datagram');
    assert.deepEqual(got[0], { data: Buffer.from('six'), address: '::1', port: p.address().port });
    const back = once(p, 'message');
    s.send(Buffer.from('back'), 0, 4, p.address().port, '::1');
    const [msg] = (await back) as [Buffer];
    assert.equal(msg.toString(), 'back');

    const dual = new NativeUdpTransport(6);
    t.after(() => dual.close());
    await dual.bind('::', 0);
    const p4 = await peer();
    t.after(() => p4.close());
    const got4 = collect(dual);
    p4.send(Buffer.from('four'), dual.address().port, '127.0.0.1');
    await until(() => got4.length === 1, 'an IPv4 datagram on the dual-stack socket');
    assert.equal(got4[0]!.address, '::ffff:127.0.0.1');
    const back4 = once(p4, 'message');
    dual.send(Buffer.from('v4'), 0, 2, p4.address().port, '127.0.0.1');
    assert.equal(((await back4) as [Buffer])[0].toString(), 'v4');
  },
);

test('the native addon rejects bad arguments with Node errors and keeps working', toolchain, async (t) => {
  const addon = loadNativeUdp()!;
  assert.ok(addon, 'the addon is built where its toolchain is');
  const s = new NativeUdpTransport(4); // initialises this thread's state
  t.after(() => s.close());
  await s.bind('127.0.0.1', 0);
  const id = addon.open(4);
  const throwsCode = (fn: () => unknown, code: string) =>
    assert.throws(fn, (err: NodeJS.ErrnoException) => err.code === code);
  throwsCode(() => addon.open(5 as 4), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.bind(id, 'not-an-ip', 0), 'ERR_INVALID_ARG_VALUE');
  throwsCode(() => addon.bind(id, '127.0.0.1', 70000), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.bind(id, '::1', 0), 'EAFNOSUPPORT');
  throwsCode(() => addon.send(id, 'text' as unknown as Uint8Array, 0, 1, 9, '127.0.0.1'), 'ERR_INVALID_ARG_TYPE');
  throwsCode(
    () => addon.send(id, new Uint16Array(4) as unknown as Uint8Array, 0, 1, 9, '127.0.0.1'),
    'ERR_INVALID_ARG_TYPE',
  );
  throwsCode(() => addon.send(id, Buffer.alloc(4), 2, 3, 9, '127.0.0.1'), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.send(id, Buffer.alloc(4), -1, 1, 9, '127.0.0.1'), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.send(id, Buffer.alloc(4), 0, 4, 0, '127.0.0.1'), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.send(id, Buffer.alloc(4), 0, 4, 9, 'host.example'), 'ERR_INVALID_ARG_VALUE');
  throwsCode(() => addon.send(id, Buffer.alloc(4), 0, 4, 9, {} as string), 'ERR_INVALID_ARG_TYPE');
  throwsCode(() => addon.send(id, Buffer.alloc(4), 0, 4, 9, 2 ** 33), 'ERR_INVALID_ARG_VALUE');
  throwsCode(() => addon.send(id, Buffer.alloc(70000), 0, 70000, 9, '127.0.0.1'), 'EMSGSIZE');
  throwsCode(() => addon.address(9999), 'EBADF');
  throwsCode(() => addon.send(-1, Buffer.alloc(1), 0, 1, 9, '127.0.0.1'), 'ERR_OUT_OF_RANGE');
  throwsCode(() => addon.init(() => {}), 'ERR_INVALID_STATE');
  addon.close(id);
  throwsCode(() => addon.close(id), 'EBADF');
  throwsCode(() => addon.send(id, Buffer.alloc(1), 0, 1, 9, '127.0.0.1'), 'EBADF');
  // Still receiving after all that.
  const p = await peer();
  t.after(() => p.close());
  const got = collect(s);
  p.send(Buffer.from('alive'), s.address().port, '127.0.0.1');
  await until(() => got.length === 1, 'a datagram after the bad calls');
  // A datagram over the 2048-byte slot is dropped and counted, never truncated into the stream.
  const before = nativeUdpStats()!.recvTruncated;
  p.send(Buffer.alloc(3000, 1), s.address().port, '127.0.0.1');
  p.send(Buffer.from('after'), s.address().port, '127.0.0.1');
  await until(() => got.length === 2, 'the datagram after the oversized one');
  assert.equal(got[1]!.data.toString(), 'after');
  assert.equal(nativeUdpStats()!.recvTruncated - before, 1);
});

test(
  'native sockets work in worker threads (one state per thread) and a worker exits with sockets open',
  toolchain,
  async (t) => {
    const p = await peer();
    t.after(() => p.close());
    const echoes: string[] = [];
    p.on('message', (m) => echoes.push(m.toString()));
    const url = new URL('../../../../src/media/transport/udp/NativeUdpTransport.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // Each worker echoes what it receives back to the peer, prefixed with its name, then is terminated.
    const code = `
    const { parentPort, workerData } = await import('node:worker_threads');
    const m = await import(${JSON.stringify(url)});
    const s = new m.NativeUdpTransport(4);
    await s.bind('127.0.0.1', 0);
    s.onMessage = (msg, r) => s.send(Buffer.from(workerData + ':' + msg), 0, workerData.length + 1 + msg.length, r.port, r.address);
    parentPort.postMessage(s.address().port);
  `;
    const workers = ['w1', 'w2'].map(
      (name) =>
        new Worker(
          `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import('data:text/javascript,' + encodeURIComponent(${JSON.stringify(code)})); })`,
          { eval: true, workerData: name },
        ),
    );
    const ports = await Promise.all(workers.map((w) => once(w, 'message').then(([port]) => port as number)));
    for (let i = 0; i < 10; i++) for (const port of ports) p.send(Buffer.from(`${i}`), port, '127.0.0.1');
    await until(() => echoes.length === 20, 'echoes of both workers', 10_000);
    assert.deepEqual(
      [...echoes].sort(),
      [...Array.from({ length: 10 }, (_, i) => `w1:${i}`), ...Array.from({ length: 10 }, (_, i) => `w2:${i}`)].sort(),
    );
    // Terminated with a socket open: the addon's cleanup closes it, the process carries on.
    for (const w of workers) await w.terminate();
    const s = new NativeUdpTransport(4);
    t.after(() => s.close());
    await s.bind('127.0.0.1', 0);
  },
);

test('UDP_IO resolution: dgram when asked, native when built, and the install build never fails', async (t) => {
  assert.equal(loadConfig({}).udpIo, 'auto');
  assert.equal(loadConfig({ UDP_IO: 'dgram' }).udpIo, 'dgram');
  assert.throws(() => loadConfig({ UDP_IO: 'uring' }), /UDP_IO/);
  assert.equal(resolveUdpIo('dgram').io, 'dgram');
  const built = loadNativeUdp() !== null;
  assert.equal(resolveUdpIo('auto').io, built ? 'native' : 'dgram');
  if (!built) assert.throws(() => resolveUdpIo('native'), /UDP_IO=native/);
  // The suite runs endpoints on the addon wherever it is built, unless UDP_IO says otherwise.
  const ep = await RtpEndpoint.open('ep', '127.0.0.1', 0, 0, 0, 'ep@test');
  t.after(() => ep.close());
  assert.equal(ep.udpIo, built && process.env.UDP_IO !== 'dgram' ? 'native' : 'dgram');
  // The install script in a copy of the sources, with a compiler that fails: exit 0, no addon.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msc-native-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['binding.gyp', 'native', 'scripts/buildNative.mjs'])
    cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
  const r = spawnSync(process.execPath, ['scripts/buildNative.mjs'], {
    cwd: dir,
    env: { ...process.env, CC: 'false', CXX: 'false', LINK: 'false' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(path.join(dir, 'build/Release/udp_batch.node')), false);
  assert.match(readFileSync(path.join(dir, 'build/native-build.log'), 'utf8'), /not built|skipped/);
});
