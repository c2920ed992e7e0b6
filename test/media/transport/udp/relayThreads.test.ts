import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R, S, SF } from '../../../../src/media/transport/udp/offloadLayout.ts';
import { offloadHarness } from '../../../helpers/offloadHarness.ts';
import { needs } from '../../../helpers/peers.ts';

// The raw addon with its relay threads (relayThreads(2), process-wide: this file runs in a
// process of its own): a socket whose route relays goes from this thread's loop to a relay
// thread after its first relayed datagram, comes back with the first datagram the route does not
// describe, and JavaScript learns of every datagram of a socket in order, relayed or not.
const toolchain = needs('g++', 'make', 'python3');
const h = offloadHarness(2);
const { SSRC_IN, trail, logged, takeLog, until, rtp, Expected, relay } = h;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Audio from peer A to the leg every millisecond, numbered from 1, until stop() (the next number). */
function stream(r: { send(p: Buffer): void }): { stop(): Promise<number> } {
  let seq = 1;
  let sending = true;
  const done = (async () => {
    while (sending) {
      r.send(rtp({ pt: 0, seq, ts: 160 * seq, ssrc: SSRC_IN }));
      seq++;
      await pause(1);
    }
  })();
  return {
    async stop() {
      sending = false;
      await done;
      return seq;
    },
  };
}

/** What JavaScript learnt of socket `id`, in order: the sequence numbers and how. */
function trailOf(id: number): string[] {
  return trail.filter((e) => e.socket === id).map((e) => `${e.to}:${e.seq}`);
}

test('relayThreads(n) starts the threads once per process; later calls share them', toolchain, () => {
  const { addon } = h.ready();
  assert.equal(addon.relayThreads(2), 2);
  assert.equal(addon.relayThreads(5), 2, 'the first call decided');
  assert.throws(() => addon.relayThreads(17), RangeError);
  assert.throws(() => addon.relayThreads(-1), RangeError);
});

test(
  'after its first relayed datagram a socket goes to a relay thread, which relays the rest: the same bytes, logged in order',
  toolchain,
  async (t) => {
    const r = await relay(t);
    const before = r.addon.stats();
    const exp = new Expected(r.s, r.f);
    const sent = Array.from({ length: 12 }, (_, i) => rtp({ pt: 0, seq: 100 + i, ts: 160 * i, ssrc: SSRC_IN }));
    for (const p of sent) {
      r.send(p);
      await pause(3); // one receive call each
    }
    await until(() => r.atB.length === 12, '12 relayed packets at B');
    takeLog();
    const mine = logged.splice(0).filter((l) => l.socket === r.src);
    assert.deepEqual(
      mine.map((l) => l.seq),
      sent.map((p) => p.readUInt16BE(2)),
    );
    for (let i = 0; i < 12; i++)
      assert.deepEqual(r.atB[i], exp.rewrite(sent[i]!, 12345, mine[i]!.arrivalMs), `packet ${i}`);
    exp.assertBlock(r.s, r.f);
    assert.deepEqual(r.jsOf(), []);
    const after = r.addon.stats();
    assert.equal(after.offloaded - before.offloaded, 12);
    assert.equal(after.threadHandoffs - before.threadHandoffs, 1, 'handed over once');
    // The loop relays what its first receive call got (one datagram, or two if the loop was late).
    assert.ok(after.threadOffloaded - before.threadOffloaded >= 10, 'the rest by the thread');
    assert.equal(after.threadReturns - before.threadReturns, 0);
    // Arrival times of the shared monotonic clock, in order, whichever thread took them.
    for (let i = 1; i < 12; i++) assert.ok(mine[i]!.arrivalMs >= mine[i - 1]!.arrivalMs);
  },
);

test(
  'a datagram the route does not describe brings the socket back: JavaScript gets it after what was relayed before it, and the audio after it goes to the thread again',
  toolchain,
  async (t) => {
    const r = await relay(t);
    const before = r.addon.stats();
    const audio = (seq: number) => rtp({ pt: 0, seq, ts: 160 * seq, ssrc: SSRC_IN });
    const order: string[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      r.send(audio(seq));
      order.push(`log:${seq}`);
      await pause(3);
    }
    await until(() => r.atB.length === 5, 'relayed, the last ones by the thread');
    // A telephone-event and audio right after it: the event goes to JavaScript, the audio with it
    // when the same receive call got both, else relayed by the loop (JavaScript has had the event).
    r.send(rtp({ pt: 101, seq: 6, ts: 960, ssrc: SSRC_IN, payload: 4 }));
    r.send(audio(7));
    await until(() => r.jsOf().length >= 1, 'the event in JavaScript');
    for (let seq = 8; seq <= 12; seq++) {
      r.send(audio(seq));
      await pause(3);
    }
    await until(() => r.atB.length + r.jsOf().length === 12, 'relayed again');
    takeLog();
    const got = trailOf(r.src);
    assert.deepEqual(
      got.map((e) => Number(e.split(':')[1])),
      Array.from({ length: 12 }, (_, i) => i + 1),
      `each once, in the order sent: ${got}`,
    );
    assert.deepEqual(got.slice(0, 6), [...order, 'js:6']);
    assert.deepEqual(got.slice(7), ['log:8', 'log:9', 'log:10', 'log:11', 'log:12']);
    const after = r.addon.stats();
    assert.equal(after.threadReturns - before.threadReturns, 1);
    assert.equal(after.threadHandoffs - before.threadHandoffs, 2, 'handed over again');
    assert.ok(after.threadOffloaded - before.threadOffloaded >= 4 + 3, 'most by the thread');
    assert.equal(r.s[S.PACKETS], r.atB.length, 'every relayed one counted in the stream');
  },
);

test(
  'takeLog(id) is a barrier: the route of that socket, disarmed before it, relays nothing after it, while datagrams keep coming',
  toolchain,
  async (t) => {
    const r = await relay(t);
    const pump = stream(r);
    await until(() => r.atB.length >= 20, 'relayed by the thread');
    r.route[R.ARMED] = 0;
    r.addon.takeLog(r.src);
    const relayed = r.s[S.PACKETS]!;
    const octets = r.f[SF.OCTETS]!;
    await until(() => r.jsOf().length >= 10, 'the later ones in JavaScript');
    const seq = await pump.stop();
    await pause(20);
    assert.equal(r.s[S.PACKETS], relayed, 'nothing relayed after the barrier');
    assert.equal(r.f[SF.OCTETS], octets);
    takeLog();
    const logSeqs = logged
      .splice(0)
      .filter((l) => l.socket === r.src)
      .map((l) => l.seq);
    const jsSeqs = r.jsOf().map((p) => p.readUInt16BE(2));
    assert.equal(logSeqs.length, relayed);
    assert.deepEqual(
      [...logSeqs, ...jsSeqs],
      Array.from({ length: seq - 1 }, (_, i) => i + 1),
      'each once, in order',
    );
  },
);

test(
  'a new route while the thread reads the socket, then closing it while datagrams keep coming: the thread lets go, a socket that reuses the id gets nothing of it',
  toolchain,
  async (t) => {
    const r = await relay(t);
    const r2 = await relay(t); // its SENDER block: the new destination
    const pump = stream(r);
    await until(() => r.atB.length >= 10, 'relayed by the thread');
    const handoffs = r.addon.stats().threadHandoffs;
    r.addon.route(r.src, r.route, r2.s);
    await until(() => r2.atB.length >= 10, 'relayed to the new destination');
    assert.ok(r.addon.stats().threadHandoffs > handoffs, 'taken back, handed over again');
    r.addon.close(r.src);
    takeLog();
    const since = trail.length;
    const reused = r.addon.open(4); // closed by relay()'s after hook, as the id is the same
    r.addon.bind(reused, '127.0.0.1', 0);
    await pause(30);
    await pump.stop();
    takeLog();
    assert.equal(reused, r.src, 'the id is reused');
    assert.deepEqual(
      trail.slice(since).filter((e) => e.socket === reused),
      [],
      'nothing of the closed socket under its id',
    );
  },
);

test(
  'forty legs over two relay threads at once: each datagram relayed once, each leg in order',
  toolchain,
  async (t) => {
    const legs = await Promise.all(Array.from({ length: 40 }, () => relay(t)));
    const before = legs[0]!.addon.stats();
    takeLog();
    logged.length = 0;
    for (let round = 0; round < 20; round++) {
      for (const leg of legs) leg.send(rtp({ pt: 0, seq: 1000 + round, ts: 160 * round, ssrc: SSRC_IN }));
      await pause(2);
    }
    await until(() => legs.every((l) => l.atB.length === 20), 'all relayed');
    takeLog();
    for (const leg of legs) {
      assert.deepEqual(
        logged.filter((l) => l.socket === leg.src).map((l) => l.seq),
        Array.from({ length: 20 }, (_, i) => 1000 + i),
      );
      assert.deepEqual(
        leg.atB.map((p) => p.readUInt16BE(2)),
        Array.from({ length: 20 }, (_, i) => (65531 + i) & 0xffff),
      );
    }
    const after = legs[0]!.addon.stats();
    assert.equal(after.offloaded - before.offloaded, 800);
    assert.ok(after.threadOffloaded - before.threadOffloaded >= 800 - 40 * 2, 'nearly all by the threads');
  },
);

test(
  'one leg flooded in bursts while two threads wait on it: one thread at a time reads it, nothing is lost, stuck or reordered',
  toolchain,
  async (t) => {
    const r = await relay(t);
    r.send(rtp({ pt: 0, seq: 1, ts: 160, ssrc: SSRC_IN }));
    await until(() => r.atB.length === 1, 'handed over');
    // Bursts of 50 (what B's socket buffer surely takes; the next once B has them all): datagrams
    // keep arriving while a thread reads the socket, each an edge that wakes the other thread,
    // which must leave the socket to the first and make it read once more.
    let seq = 2;
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 50; i++, seq++) r.send(rtp({ pt: 0, seq, ts: 160 * seq, ssrc: SSRC_IN }));
      await until(() => r.atB.length === seq - 1, `burst ${burst} relayed (${r.atB.length} of ${seq - 1})`);
    }
    await until(() => r.atB.length === seq - 1, `all ${seq - 1} relayed (${r.atB.length})`, 10000);
    takeLog();
    const want = Array.from({ length: seq - 1 }, (_, i) => i + 1);
    assert.deepEqual(
      logged.filter((l) => l.socket === r.src).map((l) => l.seq),
      want,
    );
    assert.deepEqual(
      r.atB.map((p) => p.readUInt16BE(2)),
      want.map((i) => (65530 + i) & 0xffff),
    );
    assert.deepEqual(r.jsOf(), []);
  },
);
