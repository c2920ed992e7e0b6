/**
 * npm run bench:cross-worker — one direction of a bridge between two worker threads, three ways
 * in one run: a same-worker bridge (the producer sends itself), the old cross-worker path
 * (postMessage of a copy per packet over a MessageChannel) and the shared-memory ring
 * (SpscRing + Doorbell, drained by RingInbox), plus the rings polled every 1 ms instead of woken
 * (the alternative wake-up; the wake-ups column then counts polls). Every packet ends in a real UDP send to a sink
 * on 127.0.0.1 that counts it and its latency.
 *
 * Printed per path: packets delivered/s, CPU µs per packet of the producer and consumer
 * threads (Linux /proc/thread-self/stat), process CPU µs per packet (everything, sink included), p50/p99
 * latency from the producer's clock to the sink, packets stuck in a ring (accepted, never handed
 * on: a lost wake-up would show here; sink losses do not), and the ratios against the same-worker bridge.
 *
 * Each packet belongs to one of --bridges bridges (a ring or a MessageChannel each, as in the
 * server; the consumer's rings share its doorbell). The paths run in turn, --rounds times, and
 * the median of each figure is printed (the machine is shared: interleaving evens out noise).
 *
 * Options: --rate=20000,40000 (packets/s offered, one run each) --seconds=3 --bridges=200 --rounds=3
 */
import dgram from 'node:dgram';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Doorbell } from '../src/common/Doorbell.ts';
import { SpscRing } from '../src/common/SpscRing.ts';
import { BRIDGE_RING_BYTES } from '../src/protocol/bridge.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')) as Array<[string, string]>,
);
const rates = (args.rate ?? '20000,40000').split(',').map(Number);
const seconds = Number(args.seconds ?? '3');
const bridges = Number(args.bridges ?? '200');
const rounds = Number(args.rounds ?? '3');
type Mode = 'local' | 'port' | 'ring' | 'poll';

const threadUrl = new URL('./cross-worker/thread.ts', import.meta.url).href;
const tsx = import.meta.resolve('tsx/esm/api');
function thread(data: Record<string, unknown>, transfer: never[] = []): Worker {
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(threadUrl)}); })`,
    { eval: true, workerData: data, transferList: transfer },
  );
}
function reply<T>(w: Worker, msg?: string): Promise<T> {
  return new Promise((resolve) => {
    w.once('message', resolve);
    if (msg !== undefined) w.postMessage(msg);
  });
}

interface Result {
  mode: Mode;
  stuck: number;
  delivered: number;
  pps: number;
  producerUs: number;
  consumerUs: number;
  cpuUs: number;
  p50: number;
  p99: number;
  dropped: number;
  wakeups: number;
}

async function run(mode: Mode, rate: number): Promise<Result> {
  const sink = dgram.createSocket('udp4');
  sink.bind(0, '127.0.0.1');
  await new Promise((r) => sink.once('listening', r));
  const latencies = new Float64Array(Math.round(rate * seconds));
  let delivered = 0;
  sink.on('message', (m) => {
    if (delivered < latencies.length)
      latencies[delivered] = performance.timeOrigin + performance.now() - m.readDoubleLE(12);
    delivered++;
  });
  const common = { mode, sinkPort: sink.address().port, rate, seconds };
  const [pTransfer, cTransfer]: [never[], never[]] = [[], []];
  const pPorts: unknown[] = [];
  const cPorts: unknown[] = [];
  const rings: SharedArrayBuffer[] = [];
  for (let i = 0; i < bridges; i++) {
    if (mode === 'port') {
      const { port1, port2 } = new MessageChannel();
      pPorts.push(port1);
      cPorts.push(port2);
      pTransfer.push(port1 as never);
      cTransfer.push(port2 as never);
    } else {
      rings.push(SpscRing.create(BRIDGE_RING_BYTES));
    }
  }
  const bell = Doorbell.create();
  const producer = thread(
    { ...common, role: 'producer', ...(mode === 'port' ? { ports: pPorts } : { rings, bell }) },
    pTransfer,
  );
  const consumer =
    mode === 'local'
      ? null
      : thread({ ...common, role: 'consumer', ...(mode === 'port' ? { ports: cPorts } : { rings, bell }) }, cTransfer);
  await Promise.all([reply(producer), consumer ? reply(consumer) : null]);
  await Promise.all([reply(producer, 'mark'), consumer ? reply(consumer, 'mark') : null]);
  const cpu0 = process.cpuUsage();
  const done = reply(producer, 'go');
  await done;
  const expected = Math.round(rate * seconds);
  const t0 = performance.now();
  while (delivered < expected && performance.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage(cpu0);
  const [p, c] = await Promise.all([
    reply<{ activeMs: number; dropped: number; sent: number }>(producer, 'report'),
    consumer
      ? reply<{ activeMs: number; wakeups?: number; relayed: number }>(consumer, 'report')
      : Promise.resolve({ activeMs: 0, wakeups: 0, relayed: -1 }),
  ]);
  await Promise.all([producer.terminate(), consumer?.terminate()]);
  sink.close();
  const lat = latencies.slice(0, Math.min(delivered, latencies.length)).sort();
  const pct = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]! : NaN);
  return {
    // Accepted by the producer but never handed on by the consumer (0 unless a wake-up was lost).
    mode,
    stuck: c.relayed < 0 ? 0 : p.sent - p.dropped - c.relayed,
    delivered,
    pps: delivered / seconds,
    producerUs: (p.activeMs * 1000) / delivered,
    consumerUs: (c.activeMs * 1000) / delivered,
    cpuUs: (cpu.user + cpu.system) / delivered,
    p50: pct(0.5),
    p99: pct(0.99),
    dropped: p.dropped,
    wakeups: c.wakeups ?? 0,
  };
}

const f = (n: number, d = 2) => n.toFixed(d).padStart(8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const modes = ['local', 'port', 'ring', 'poll'] as const;
for (const rate of rates) {
  const all: Record<Mode, Result[]> = { local: [], port: [], ring: [], poll: [] };
  for (let round = 0; round < rounds; round++) for (const mode of modes) all[mode].push(await run(mode, rate));
  const results = {} as Record<Mode, Result>;
  for (const mode of modes) {
    const rs = all[mode];
    const m = (k: keyof Result) => median(rs.map((r) => r[k] as number));
    results[mode] = {
      mode,
      stuck: Math.max(...rs.map((r) => r.stuck)),
      delivered: m('delivered'),
      pps: m('pps'),
      producerUs: m('producerUs'),
      consumerUs: m('consumerUs'),
      cpuUs: m('cpuUs'),
      p50: m('p50'),
      p99: m('p99'),
      dropped: m('dropped'),
      wakeups: m('wakeups'),
    };
  }
  console.log(
    `\n${rate} packets/s offered over ${bridges} bridges for ${seconds} s, median of ${rounds} rounds, node ${process.version}`,
  );
  console.log(
    'path            delivered/s  producer µs/pkt  consumer µs/pkt  threads µs/pkt  process CPU µs/pkt  p50 ms  p99 ms  dropped  wake-ups  stuck',
  );
  for (const r of Object.values(results)) {
    const name = { local: 'same worker', port: 'postMessage', ring: 'SAB ring', poll: 'ring, 1ms poll' }[r.mode];
    console.log(
      `${name.padEnd(14)} ${f(r.pps, 0)}     ${f(r.producerUs)}         ${f(r.consumerUs)}        ${f(r.producerUs + r.consumerUs)}          ${f(r.cpuUs)}      ${f(r.p50)} ${f(r.p99)}  ${String(r.dropped).padStart(7)}  ${String(r.wakeups).padStart(8)}  ${String(r.stuck).padStart(5)}`,
    );
  }
  const t = (r: Result) => r.producerUs + r.consumerUs;
  console.log(
    `ratios: threads µs/pkt postMessage/ring ${(t(results.port) / t(results.ring)).toFixed(2)}x, ring/same-worker ${(t(results.ring) / t(results.local)).toFixed(2)}x, postMessage/same-worker ${(t(results.port) / t(results.local)).toFixed(2)}x; ` +
      `process CPU postMessage/ring ${(results.port.cpuUs / results.ring.cpuUs).toFixed(2)}x, ring/same-worker ${(results.ring.cpuUs / results.local.cpuUs).toFixed(2)}x`,
  );
}
