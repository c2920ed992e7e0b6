/**
 * npm run bench:relay-offload — one bridged direction on the native UDP addon, two ways in one
 * run: delivered to JavaScript, which rewrites the header and sends (today's path), and relayed
 * inside the addon by an armed route (the relay offload; JavaScript only drains the log). A
 * generator on the main thread offers PCMU packets at --rate to the relay thread, which sends
 * them on to a sink on the main thread that counts them.
 *
 * Printed per path: packets relayed, the relay thread's CPU µs per packet
 * (/proc/thread-self/schedstat; the kernel's loopback delivery to the sink is part of the send, so
 * it counts here too), and the ratio offload/JS. The JS handler is the bare rewrite and send, not
 * the whole endpoint path (statistics, link dispatch): the saving shown is a lower bound. The
 * paths alternate --rounds times; medians are printed (the machine is shared).
 *
 * Options: --rate=20000 (packets/s) --seconds=3 --rounds=3
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { loadNativeUdp } from '../src/common/nativeUdp.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')) as Array<[string, string]>,
);
const rate = Number(args.rate ?? '20000');
const seconds = Number(args.seconds ?? '3');
const rounds = Number(args.rounds ?? '3');
const SSRC_IN = 0x0badcafe;

const loaded = loadNativeUdp();
if (!loaded) throw new Error('bench:relay-offload needs the native addon (npm run build:native)');
const addon = loaded;
let sunk = 0;
const arena = addon.init((count) => {
  for (let i = 0; i < count; i++) if (arena.meta[i * arena.metaInts] === sink) sunk++;
});
const gen = addon.open(4);
const genPort = addon.bind(gen, '127.0.0.1', 0);
const sink = addon.open(4);
const sinkPort = addon.bind(sink, '127.0.0.1', 0);

const threadUrl = new URL('./relay-offload/thread.ts', import.meta.url).href;
const tsx = import.meta.resolve('tsx/esm/api');

async function run(mode: 'native' | 'js'): Promise<{ relayed: number; cpuUs: number; offloaded: number }> {
  const w = new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(threadUrl)}); })`,
    { eval: true, workerData: { mode, genPort, sinkPort, ssrcIn: SSRC_IN } },
  );
  const [{ srcPort }] = (await once(w, 'message')) as [{ srcPort: number }];
  const ask = async () => {
    const reply = once(w, 'message');
    w.postMessage('cpu');
    return (await reply)[0] as { cpuMs: number; received: number; stats: { offloaded: number } };
  };
  const pkt = Buffer.alloc(172, 0xd5);
  pkt[0] = 0x80;
  pkt[1] = 0;
  pkt.writeUInt32BE(SSRC_IN, 8);
  const total = Math.round(rate * seconds);
  const before = await ask();
  const sunk0 = sunk;
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.round(((performance.now() - t0) / 1000) * rate));
    for (; sent < due; sent++) {
      pkt.writeUInt16BE(sent & 0xffff, 2);
      pkt.writeUInt32BE((sent * 160) >>> 0, 4);
      addon.send(gen, pkt, 0, pkt.length, srcPort, 0x7f000001);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const end = performance.now() + 500;
  while (sunk - sunk0 < total && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
  const after = await ask();
  w.postMessage('close');
  await once(w, 'exit');
  const relayed = sunk - sunk0;
  return {
    relayed,
    cpuUs: ((after.cpuMs - before.cpuMs) * 1000) / Math.max(1, relayed),
    offloaded: after.stats.offloaded - before.stats.offloaded,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = { js: [] as number[], native: [] as number[] };
const relayed = { js: [] as number[], native: [] as number[] };
for (let r = 0; r < rounds; r++)
  for (const mode of ['js', 'native'] as const) {
    const res = await run(mode);
    results[mode].push(res.cpuUs);
    relayed[mode].push(res.relayed);
    if (mode === 'native' && res.offloaded < res.relayed * 0.99) console.warn(`offloaded only ${res.offloaded}`);
  }
addon.close(gen);
addon.close(sink);
const js = median(results.js);
const native = median(results.native);
console.log(`${rate} packets/s for ${seconds} s, median of ${rounds} rounds, node ${process.version}`);
console.log(`  JS rewrite+send:  ${js.toFixed(2)} µs CPU/packet (relayed ${median(relayed.js)} of ${rate * seconds})`);
console.log(`  native offload:   ${native.toFixed(2)} µs CPU/packet (relayed ${median(relayed.native)})`);
console.log(`  offload / JS:     ${(native / js).toFixed(3)}  (saves ${(js - native).toFixed(2)} µs/packet)`);
