/**
 * npm run bench:relay-offload — one bridged direction on the native UDP addon, two ways in one
 * run: delivered to JavaScript, which rewrites the header and sends (today's path), and relayed
 * inside the addon by an armed route (the relay offload; JavaScript only drains the log). A
 * generator on the main thread offers PCMU packets at --rate, round robin over --streams source
 * sockets of the relay thread (each with its own route, destination socket and SENDER block),
 * which sends them on to a sink on the main thread that counts them. Many streams is the server's
 * regime (a socket holds about one datagram when polled: nothing batches per socket); one stream
 * at a high rate is the regime where recvmmsg/sendmmsg batch.
 *
 * Printed per path: packets relayed, the relay thread's CPU µs per packet
 * (/proc/thread-self/schedstat; the kernel's loopback delivery to the sink is part of the send, so
 * it counts here too), and the ratio offload/JS. The JS handler is the bare rewrite and send, not
 * the whole endpoint path (statistics, link dispatch): the saving shown is a lower bound. The
 * paths alternate --rounds times; medians are printed (the machine is shared).
 *
 * Options: --rate=20000 (packets/s in all) --streams=1,200 (one run each) --seconds=3 --rounds=3
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
const streamCounts = (args.streams ?? '1,200').split(',').map(Number);
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

interface Run {
  relayed: number;
  cpuUs: number;
  offloaded: number;
  perRecv: number;
}

async function run(mode: 'native' | 'js', streams: number): Promise<Run> {
  const w = new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(threadUrl)}); })`,
    { eval: true, workerData: { mode, genPort, sinkPort, ssrcIn: SSRC_IN, streams } },
  );
  const [{ srcPorts }] = (await once(w, 'message')) as [{ srcPorts: number[] }];
  const ask = async () => {
    const reply = once(w, 'message');
    w.postMessage('cpu');
    return (await reply)[0] as {
      cpuMs: number;
      received: number;
      stats: { offloaded: number; recvCalls: number; recvPackets: number };
    };
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
      addon.send(gen, pkt, 0, pkt.length, srcPorts[sent % streams]!, 0x7f000001);
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
    perRecv:
      (after.stats.recvPackets - before.stats.recvPackets) /
      Math.max(1, after.stats.recvCalls - before.stats.recvCalls),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${rate} packets/s offered for ${seconds} s, median of ${rounds} rounds, node ${process.version}`);
for (const streams of streamCounts) {
  const runs = { js: [] as Run[], native: [] as Run[] };
  for (let r = 0; r < rounds; r++)
    for (const mode of ['js', 'native'] as const) {
      const res = await run(mode, streams);
      runs[mode].push(res);
      if (mode === 'native' && res.offloaded < res.relayed * 0.99) console.warn(`offloaded only ${res.offloaded}`);
    }
  const js = median(runs.js.map((x) => x.cpuUs));
  const native = median(runs.native.map((x) => x.cpuUs));
  const line = (what: string, cpu: number, rs: Run[]) =>
    `  ${what} ${cpu.toFixed(2)} µs CPU/packet, relayed ${median(rs.map((x) => x.relayed))} of ${rate * seconds}, ` +
    `${median(rs.map((x) => x.perRecv)).toFixed(2)} datagrams per recvmmsg`;
  console.log(`${streams} stream(s), ${(rate / streams).toFixed(0)} packets/s each`);
  console.log(line('JS rewrite+send:', js, runs.js));
  console.log(line('native offload: ', native, runs.native));
  // Paired per round (the two ran back to back): the spread says how much the machine moved.
  const ratios = runs.native.map((x, i) => x.cpuUs / runs.js[i]!.cpuUs).sort((a, b) => a - b);
  console.log(
    `  offload / JS:    ${(native / js).toFixed(3)} (saves ${(js - native).toFixed(2)} µs/packet; ` +
      `per round ${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)}, median ${median(ratios).toFixed(2)})`,
  );
}
addon.close(gen);
addon.close(sink);
