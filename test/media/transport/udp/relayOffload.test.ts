import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { tsAdd } from '../../../../src/common/seq.ts';
import {
  L,
  LOG_INTS,
  LOG_RECORDS,
  R,
  ROUTE_INTS,
  S,
  SENDER_BYTES,
  SENDER_FLOAT_OFFSET,
  SENDER_FLOATS,
  SENDER_INTS,
  SF,
} from '../../../../src/media/transport/udp/offloadLayout.ts';
import { offloadHarness } from '../../../helpers/offloadHarness.ts';
import { needs } from '../../../helpers/peers.ts';

// The raw addon (native/udp_batch.c), driven directly (test/helpers/offloadHarness.ts).
const toolchain = needs('g++', 'make', 'python3');
const h = offloadHarness();
const { LOOPBACK, PCMU, PCMA, SSRC_IN, logged, takeLog, ready, until, peer, rtp, senderBlock, Expected, relay } = h;

test('offloadLayout() of the addon equals offloadLayout.ts', toolchain, () => {
  const { addon } = ready();
  assert.deepEqual(addon.offloadLayout(), {
    S: { ...S },
    SF: { ...SF },
    R: { ...R },
    L: { ...L },
    SENDER_BYTES,
    SENDER_INTS,
    SENDER_FLOAT_OFFSET,
    SENDER_FLOATS,
    ROUTE_INTS,
    LOG_INTS,
    LOG_RECORDS,
  });
  const { arena } = ready();
  assert.equal(arena.logInts.length, LOG_RECORDS * LOG_INTS);
  assert.equal(arena.logTimes.length, LOG_RECORDS);
  assert.equal(arena.logCount.length, 1);
  // The process-wide monotonic clock of process.hrtime.
  const before = Number(process.hrtime.bigint()) / 1e6;
  const ms = addon.hrtimeMs();
  assert.ok(ms >= before && ms <= Number(process.hrtime.bigint()) / 1e6, `${before} ${ms}`);
});

test(
  'route() checks its arguments: Int32Arrays long enough, the SENDER block at byte 0 of its buffer',
  toolchain,
  async (t) => {
    const { addon } = ready();
    const id = addon.open(4);
    t.after(() => addon.close(id));
    const { s } = senderBlock();
    assert.throws(() => addon.route(id, new Int32Array(ROUTE_INTS - 1), s), RangeError);
    assert.throws(() => addon.route(id, new Int32Array(ROUTE_INTS), new Int32Array(SENDER_INTS - 1)), RangeError);
    // The float64 words must lie in the same buffer.
    assert.throws(() => addon.route(id, new Int32Array(ROUTE_INTS), new Int32Array(SENDER_INTS)), RangeError);
    const off = new Int32Array(new SharedArrayBuffer(SENDER_BYTES + 8), 8, SENDER_INTS);
    assert.throws(() => addon.route(id, new Int32Array(ROUTE_INTS), off), RangeError);
    assert.throws(() => addon.route(id, new Uint32Array(ROUTE_INTS) as unknown as Int32Array, s), TypeError);
    assert.throws(() => addon.route(id, new Int32Array(ROUTE_INTS), null), TypeError);
    // A plain ArrayBuffer of SENDER_BYTES does too (a block nobody shares); detach is idempotent.
    addon.route(id, new Int32Array(ROUTE_INTS), new Int32Array(new ArrayBuffer(SENDER_BYTES), 0, SENDER_INTS));
    addon.route(id, new Int32Array(ROUTE_INTS), s);
    addon.route(id, null, null);
    addon.route(id, null, null);
    assert.ok(addon.fd(id) > 2);
  },
);

test(
  'an armed route relays RTP from the latched source natively: rewritten into the SENDER block, logged, not delivered',
  toolchain,
  async (t) => {
    const r = await relay(t);
    const before = r.addon.stats();
    const exp = new Expected(r.s, r.f);
    const sent = [0, 1, 2, 3].map((i) =>
      rtp({ pt: 0, seq: 40000 + i, ts: 1000 + 160 * i, ssrc: SSRC_IN, marker: i === 0 }),
    );
    for (const p of sent) r.send(p);
    await until(() => r.atB.length === 4, '4 relayed packets at B');
    takeLog();
    const mine = logged.splice(0).filter((l) => l.socket === r.src);
    assert.equal(mine.length, 4);
    for (let i = 0; i < 4; i++) {
      const l = mine[i]!;
      assert.deepEqual(
        { socket: l.socket, seq: l.seq, ts: l.ts, ssrc: l.ssrc, payloadBytes: l.payloadBytes },
        { socket: r.src, seq: 40000 + i, ts: 1000 + 160 * i, ssrc: SSRC_IN, payloadBytes: 160 },
      );
      const want = exp.rewrite(sent[i]!, 12345, l.arrivalMs);
      assert.deepEqual(r.atB[i], want, `packet ${i}`);
    }
    // Marker on the first only; the sequence continues from SEQ + 1 across the 16-bit wrap.
    assert.deepEqual(
      r.atB.map((p) => [p[1]! >> 7, p.readUInt16BE(2)]),
      [
        [1, 65531],
        [0, 65532],
        [0, 65533],
        [0, 65534],
      ],
    );
    assert.equal(r.atB[0]!.readUInt32BE(4), (0xfffff000 + 160) >>> 0);
    assert.equal(r.atB[0]!.readUInt32BE(8), 0x11223344);
    exp.assertBlock(r.s, r.f);
    assert.equal(r.s[S.PACKETS], 4);
    assert.equal(r.f[SF.OCTETS], 640);
    assert.deepEqual(r.jsOf(), [], 'nothing went to JavaScript');
    const after = r.addon.stats();
    assert.equal(after.offloaded - before.offloaded, 4);
    assert.equal(after.offloadSendErrors, before.offloadSendErrors);
    // Sent in batches: one sendmmsg per receive call that relayed something.
    const calls = after.offloadSendCalls - before.offloadSendCalls;
    assert.ok(calls >= 1 && calls <= 4, `${calls} sendmmsg calls`);
    assert.ok(after.recvPackets - before.recvPackets >= 4);
    // Arrival times are of the monotonic clock, in order.
    for (let i = 1; i < 4; i++) assert.ok(mine[i]!.arrivalMs >= mine[i - 1]!.arrivalMs);
    assert.ok(mine[3]!.arrivalMs <= r.addon.hrtimeMs());
  },
);

test('what the route does not describe goes to JavaScript and is not relayed', toolchain, async (t) => {
  const r = await relay(t);
  const other = await peer();
  t.after(() => other.close());
  let seq = 100;
  const ok = () => rtp({ pt: 0, seq: seq++, ts: seq * 160, ssrc: SSRC_IN });
  // Each case: the packet reaches JS, then a good one is relayed (and is all B gets: UDP on
  // loopback keeps the order, so a relayed bad one would arrive before it).
  const cases: Array<[string, () => Buffer, (() => void) | null, (() => void) | null, dgram.Socket?]> = [
    ['another source port', ok, null, null, other],
    ['telephone-event', () => rtp({ pt: 101, seq: seq++, ts: 0, ssrc: SSRC_IN, payload: 4 }), null, null],
    ['another SSRC', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: 0x12345678 }), null, null],
    ['padding', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: SSRC_IN, b0: 0xa0 }), null, null],
    ['extension', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: SSRC_IN, b0: 0x90 }), null, null],
    ['a CSRC', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: SSRC_IN, b0: 0x81 }), null, null],
    ['RTP version 1', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: SSRC_IN, b0: 0x40 }), null, null],
    ['a header without payload', () => rtp({ pt: 0, seq: seq++, ts: 0, ssrc: SSRC_IN, payload: 0 }), null, null],
    ['RELAY_OK = 0', ok, () => void (r.s[S.RELAY_OK] = 0), () => void (r.s[S.RELAY_OK] = 1)],
    ['no destination socket (FD -1)', ok, () => void (r.s[S.FD] = -1), () => void (r.s[S.FD] = r.addon.fd(r.dst))],
    ['another codec', ok, () => void (r.s[S.CODEC_KEY] = PCMA), () => void (r.s[S.CODEC_KEY] = PCMU)],
    ['route disarmed', ok, () => void (r.route[R.ARMED] = 0), () => void (r.route[R.ARMED] = 1)],
    [
      'log full',
      ok,
      () => {
        takeLog();
        h.holdLog = true;
        ready().arena.logCount[0] = LOG_RECORDS;
      },
      () => {
        h.holdLog = false;
        ready().arena.logCount[0] = 0;
      },
    ],
  ];
  for (const [what, make, set, reset, from] of cases) {
    set?.();
    const bad = make();
    const before = r.jsOf().length;
    r.send(bad, from ?? r.a);
    await until(() => r.jsOf().length === before + 1, `${what}: the packet in JavaScript`);
    assert.deepEqual(r.jsOf()[before], bad, what);
    reset?.();
    const good = ok();
    const atB = r.atB.length;
    r.send(good);
    await until(() => r.atB.length === atB + 1, `${what}: the next good packet relayed`);
    assert.equal(r.atB[atB]!.readUInt16BE(2), r.s[S.SEQ], `${what}: only the good packet reached B`);
  }
  assert.equal(r.jsOf().length, cases.length);
  assert.equal(r.atB.length, cases.length);
  takeLog();
  assert.equal(logged.splice(0).filter((l) => l.socket === r.src).length, cases.length);
});

test(
  'order per socket: once a batch holds a packet for JavaScript, the later ones of that socket go there too',
  toolchain,
  async (t) => {
    const r = await relay(t);
    // Sent in one go from this thread: in the socket's buffer before the loop polls, one recvmmsg.
    const batch = [
      rtp({ pt: 101, seq: 1, ts: 0, ssrc: SSRC_IN, payload: 4 }),
      rtp({ pt: 0, seq: 2, ts: 160, ssrc: SSRC_IN }),
      rtp({ pt: 0, seq: 3, ts: 320, ssrc: SSRC_IN }),
    ];
    for (const p of batch) r.send(p);
    await until(() => r.jsOf().length === 3, 'the 3 packets in JavaScript');
    assert.deepEqual(r.jsOf(), batch);
    // The next batch starts afresh.
    r.send(rtp({ pt: 0, seq: 4, ts: 480, ssrc: SSRC_IN }));
    await until(() => r.atB.length === 1, 'the next packet relayed');
    assert.equal(r.jsOf().length, 3);
    // Offloadable first, then one for JS, then offloadable: 1 relayed, 2 to JS, in order.
    const mixed = [
      rtp({ pt: 0, seq: 5, ts: 640, ssrc: SSRC_IN }),
      rtp({ pt: 13, seq: 6, ts: 800, ssrc: SSRC_IN, payload: 1 }),
      rtp({ pt: 0, seq: 7, ts: 960, ssrc: SSRC_IN }),
    ];
    for (const p of mixed) r.send(p);
    await until(() => r.jsOf().length === 5, 'the last 2 in JavaScript');
    assert.deepEqual(r.jsOf().slice(3), mixed.slice(1));
    assert.equal(r.atB.length, 2);
    assert.equal(r.atB[1]!.readUInt16BE(2), r.s[S.SEQ]);
  },
);

test('a log half full with nothing for the arena still calls onBatch(0), for JS to drain it', toolchain, async (t) => {
  const r = await relay(t);
  const { arena } = ready();
  const before = h.emptyBatches;
  // As if LOG_RECORDS / 2 - 2 packets had been relayed since JS last drained.
  arena.logCount[0] = LOG_RECORDS / 2 - 2;
  r.send(rtp({ pt: 0, seq: 1, ts: 0, ssrc: SSRC_IN }));
  await until(() => r.atB.length === 1, 'the first relayed');
  assert.equal(h.emptyBatches, before, 'below half: no call');
  assert.equal(arena.logCount[0], LOG_RECORDS / 2 - 1);
  r.send(rtp({ pt: 0, seq: 2, ts: 160, ssrc: SSRC_IN }));
  await until(() => h.emptyBatches > before, 'onBatch(0)');
  assert.equal(arena.logCount[0], 0, 'drained');
  const last = logged.at(-1)!;
  assert.deepEqual([last.socket, last.seq, last.ts], [r.src, 2, 160]);
  assert.deepEqual(r.jsOf(), []);
  logged.length = 0;
});

test(
  'a gap continues the offsets; a new source token re-bases (marker, seq + 1, timestamp advanced by the elapsed frames)',
  toolchain,
  async (t) => {
    const r = await relay(t);
    // A dynamic payload type mapped on the way (96 in, 111 out), same codec key.
    r.route[R.PT_IN] = 96;
    r.s[S.PT_OUT] = 111;
    const exp = new Expected(r.s, r.f);
    const arrivals: number[] = [];
    // One at a time: each compared with what the model makes of it at its arrival time.
    const go = async (p: Buffer, token: number) => {
      const n = r.atB.length;
      r.send(p);
      await until(() => r.atB.length === n + 1, `packet ${n} at B`);
      takeLog();
      const mine = logged.splice(0).filter((l) => l.socket === r.src);
      assert.equal(mine.length, 1);
      arrivals.push(mine[0]!.arrivalMs);
      assert.deepEqual(r.atB[n], exp.rewrite(p, token, mine[0]!.arrivalMs), `packet ${n}`);
    };
    await go(rtp({ pt: 96, seq: 10, ts: 5000, ssrc: SSRC_IN }), 12345);
    await go(rtp({ pt: 96, seq: 11, ts: 5160, ssrc: SSRC_IN }), 12345);
    // Gap of 3 packets, and a reordered late one (does not move SEQ/TS back).
    await go(rtp({ pt: 96, seq: 15, ts: 5800, ssrc: SSRC_IN }), 12345);
    await go(rtp({ pt: 96, seq: 13, ts: 5480, ssrc: SSRC_IN }), 12345);
    // The peer re-bridged (new token): a talkspurt from the last sent + 1, at least one frame on.
    // LAST_SEND_MS in the future: the elapsed time counts as nothing, the advance is FRAME_SAMPLES.
    while (Atomics.compareExchange(r.s, S.LOCK, 0, 1) !== 0);
    r.f[SF.LAST_SEND_MS] = r.addon.hrtimeMs() + 60_000;
    Atomics.store(r.s, S.LOCK, 0);
    exp.lastSendMs = r.f[SF.LAST_SEND_MS]!;
    r.route[R.SOURCE_TOKEN] = 777;
    await go(rtp({ pt: 96, seq: 30000, ts: 999_999, ssrc: SSRC_IN }), 777);
    await go(rtp({ pt: 96, seq: 30001, ts: 999_999 + 160, ssrc: SSRC_IN }), 777);
    // Again, after a pause of ~100 ms: the advance is the elapsed time in whole frames.
    await new Promise((res) => setTimeout(res, 100));
    r.route[R.SOURCE_TOKEN] = 778;
    await go(rtp({ pt: 96, seq: 7, ts: 77, ssrc: SSRC_IN }), 778);
    exp.assertBlock(r.s, r.f);
    const seqs = r.atB.map((p) => p.readUInt16BE(2));
    const markers = r.atB.map((p) => p[1]! >> 7);
    const pts = r.atB.map((p) => p[1]! & 0x7f);
    assert.deepEqual(pts, Array(7).fill(111));
    assert.deepEqual(markers, [1, 0, 0, 0, 1, 0, 1]);
    assert.deepEqual(seqs, [65531, 65532, 0, 65534, 1, 2, 3]);
    const tss = r.atB.map((p) => p.readUInt32BE(4));
    assert.equal(tss[2]! - tss[1]!, 640, 'the gap keeps the timestamp offset');
    assert.equal(tsAdd(tss[4]!, -tss[2]!), 160, 'a re-base right after: one frame on');
    const adv = tsAdd(tss[6]!, -tss[5]!);
    const elapsed = arrivals[6]! - arrivals[5]!;
    assert.equal(adv % 160, 0);
    assert.ok(adv >= 160 && Math.abs(adv - elapsed * 8) <= 80, `advance ${adv} for ${elapsed} ms`);
    assert.ok(elapsed >= 99 && adv >= 640, `${elapsed} ms`);
  },
);

test(
  'cross-thread: a SENDER block of this thread relays from a worker thread route; RELAY_OK=0 under the lock stops it',
  toolchain,
  async (t) => {
    const { addon } = ready();
    const a = await peer();
    const b = await peer();
    const dst = addon.open(4);
    addon.bind(dst, '127.0.0.1', 0);
    t.after(() => {
      a.close();
      b.close();
      addon.close(dst);
    });
    const atB: Buffer[] = [];
    b.on('message', (m) => atB.push(m));
    const { sab, s, f } = senderBlock();
    s.set([0, 1, addon.fd(dst), LOOPBACK, b.address().port, 0x55667788, 100, 8000, -1, 0, 0, 1, 8000, 160, 0, 8, PCMA]);
    f[SF.LAST_SEND_MS] = -1;
    const exp = new Expected(s, f);
    const url = new URL('../../../../src/common/nativeUdp.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // The worker: its own addon state, a socket whose route relays into our block; it reports
    // what reaches its JavaScript, and its stats on request.
    const code = `
    const { parentPort, workerData } = await import('node:worker_threads');
    const m = await import(${JSON.stringify(url)});
    const addon = m.loadNativeUdp();
    let arena;
    arena = addon.init((count) => {
      for (let i = 0; i < count; i++) {
        const o = i * arena.metaInts;
        parentPort.postMessage({ js: Buffer.from(new Uint8Array(arena.rx, i * arena.slotBytes, arena.meta[o + 1])) });
      }
    });
    const id = addon.open(4);
    const port = addon.bind(id, '127.0.0.1', 0);
    const route = new Int32Array(${ROUTE_INTS});
    route.set(workerData.route);
    addon.route(id, route, new Int32Array(workerData.sab, 0, ${SENDER_INTS}));
    parentPort.on('message', () => parentPort.postMessage({ stats: addon.stats(), log: arena.logCount[0] }));
    parentPort.postMessage({ port });
  `;
    const route = [1, LOOPBACK, a.address().port, 8, SSRC_IN | 0, 4242, PCMA, 0];
    const w = new Worker(
      `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import('data:text/javascript,' + encodeURIComponent(${JSON.stringify(code)})); })`,
      { eval: true, workerData: { sab, route } },
    );
    t.after(() => w.terminate());
    const js: Buffer[] = [];
    let stats: { stats: Record<string, number>; log: number } | undefined;
    w.on('message', (msg) => {
      if (msg.js) js.push(Buffer.from(msg.js));
      if (msg.stats) stats = msg;
    });
    const [{ port }] = (await once(w, 'message')) as [{ port: number }];
    const askStats = async () => {
      stats = undefined;
      w.postMessage('stats');
      await until(() => stats !== undefined, 'worker stats');
      return stats!;
    };
    const pkts = [0, 1, 2].map((i) => rtp({ pt: 8, seq: 500 + i, ts: 160 * i, ssrc: SSRC_IN }));
    for (const p of pkts) a.send(p, port, '127.0.0.1');
    await until(() => atB.length === 3, 'relayed by the worker');
    // The first is rewritten with one frame of advance (LAST_SEND_MS < 0), whatever its arrival time.
    assert.deepEqual(atB[0], exp.rewrite(pkts[0]!, 4242, 0));
    assert.equal(atB[2]!.readUInt16BE(2), 103);
    assert.equal(s[S.PACKETS], 3);
    assert.ok(f[SF.LAST_SEND_MS]! > 0 && f[SF.LAST_SEND_MS]! <= addon.hrtimeMs(), 'a time of the shared clock');
    assert.deepEqual(js, []);
    const st1 = await askStats();
    assert.equal(st1.stats.offloaded, 3);
    assert.equal(st1.log, 3);

    // While this thread holds the lock the worker does not wait for it: JavaScript gets the packet.
    while (Atomics.compareExchange(s, S.LOCK, 0, 1) !== 0);
    a.send(rtp({ pt: 8, seq: 503, ts: 480, ssrc: SSRC_IN }), port, '127.0.0.1');
    await until(() => js.length === 1, 'the packet in the worker JavaScript while the lock is held');
    assert.equal((await askStats()).stats.offloadLockBusy, 1);
    s[S.RELAY_OK] = 0;
    Atomics.store(s, S.LOCK, 0);
    for (let i = 0; i < 3; i++)
      a.send(rtp({ pt: 8, seq: 504 + i, ts: 640 + 160 * i, ssrc: SSRC_IN }), port, '127.0.0.1');
    await until(() => js.length === 4, 'the packets in the worker JavaScript');
    assert.equal(atB.length, 3, 'not relayed');
    assert.equal(s[S.PACKETS], 3);
    assert.equal((await askStats()).stats.offloaded, 3);
    // Terminated with the route attached: its cleanup closes the socket and releases the refs.
    await w.terminate();
    assert.equal(Atomics.load(s, S.LOCK), 0);
  },
);

test(
  'detach, re-attach and close with a route attached release the arrays (they become collectable)',
  toolchain,
  async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { addon } = ready();
    const collected = new Set<string>();
    const registry = new FinalizationRegistry<string>((name) => collected.add(name));
    const id = addon.open(4);
    addon.bind(id, '127.0.0.1', 0);
    let closed = false;
    t.after(() => closed || addon.close(id));
    const attach = (name: string) => {
      const route = new Int32Array(ROUTE_INTS);
      const sender = senderBlock().s;
      registry.register(route, `${name}.route`);
      registry.register(sender, `${name}.sender`);
      addon.route(id, route, sender);
    };
    const settle = async () => {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
    };
    attach('first');
    await settle();
    assert.deepEqual([...collected], [], 'attached arrays are kept alive');
    attach('second'); // replaces the first
    await settle();
    assert.deepEqual([...collected].sort(), ['first.route', 'first.sender']);
    addon.route(id, null, null);
    await settle();
    assert.deepEqual([...collected].sort(), ['first.route', 'first.sender', 'second.route', 'second.sender']);
    attach('third');
    addon.close(id);
    closed = true;
    await settle();
    assert.ok(collected.has('third.route') && collected.has('third.sender'));
    assert.throws(() => addon.route(id, null, null), /EBADF/);
  },
);

test('closing the socket a SENDER block sends on (own()) clears its FD and RELAY_OK first', toolchain, () => {
  const { addon } = ready();
  const id = addon.open(4);
  addon.bind(id, '127.0.0.1', 0);
  const fd = addon.fd(id);
  const block = senderBlock();
  block.s[S.FD] = fd;
  block.s[S.RELAY_OK] = 1;
  addon.own(id, block.s);
  // Another block naming another fd is left alone: only the owner's own fd is taken away.
  const other = addon.open(4);
  addon.bind(other, '127.0.0.1', 0);
  const stranger = senderBlock();
  stranger.s[S.FD] = fd + 1000;
  stranger.s[S.RELAY_OK] = 1;
  addon.own(other, stranger.s);
  addon.close(id);
  assert.equal(block.s[S.FD], -1, 'no thread relays into a closed fd');
  assert.equal(block.s[S.RELAY_OK], 0);
  assert.equal(block.s[S.LOCK], 0, 'the lock is released');
  addon.close(other);
  assert.equal(stranger.s[S.FD], fd + 1000);
  assert.equal(stranger.s[S.RELAY_OK], 1);
});
