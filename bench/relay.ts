/**
 * npm run bench:relay — bridged calls through media-server-core side by side with a bare Node
 * dgram relay and rtpengine, measured in one run on the same machine (not a timed test).
 *
 * A call is two legs, 50 packets/s each way (PCMU 20 ms; the payload is speech half of the time,
 * see bench/relay/pattern.ts). The load generator is in C (bench/relay/loadgen.c, built with the
 * system `cc` at start, driven through bench/relay/cGenerators.ts): the JavaScript worker-thread
 * generator (bench/relay/generator.ts, the same packets and measurement) was itself the limit at
 * 200 calls (p50 ~2 ms, p99 ~4-5 ms for every relay, rtpengine included). Without a compiler, or
 * with --gen-impl=js, the JavaScript one is used; the header line says which. Relays, each in its own process (bench/relay/relayProcess.ts):
 *   bare      a plain Node dgram relay (the ceiling for Node);
 *   rtpengine Debian rtpengine-daemon, userspace forwarding, driven over ng (skipped if absent);
 *   plain     media-server-core, PCMU offers without telephone-event, no affinity key (the default
 *             path of most B2BUAs; placement by load; in-band DTMF as DTMF_INBAND says, by
 *             default only where digits are consumed: nowhere in this bench);
 *   b2bua     PCMU + telephone-event offers, one affinity key per call;
 *   xworker   as b2bua but the two legs forced onto different workers (needs --workers >= 2).
 * The server modes use UDP_IO of the environment (auto: the batched native addon when built);
 * a `-dgram` or `-native` suffix forces one (b2bua-dgram: the same path on node:dgram, in the
 * same run; bare-native: the bare relay on the addon); `-js` turns the relay offload off
 * (RELAY_OFFLOAD=off: b2bua-js is the native path with every packet through JavaScript, the
 * server before the offload; the `offloaded=` share says how much the addon relayed itself), and
 * `-loop` the relay threads (RELAY_THREADS=0: the offload on the workers' loops; the `relay
 * thread` share says how much the threads relayed; by default RELAY_THREADS = --workers, as
 * rtpengine's --num-threads). The default set adds b2bua-loop, b2bua-js, b2bua-dgram and
 * plain-dgram when the addon is built, so they are compared in one run.
 * Latency is measured to the packet's arrival at the generator's socket (the kernel's receive
 * timestamp, see bench/relay/loadgen.c); `(read …)` is the p99 at the time the generator read it,
 * its own wait for a CPU included.
 * For each, the generator steps the number of calls up (doubling from 50, then one bisection)
 * and reports the highest N with loss < 1% and p99 latency < 5 ms, and at the comparison load
 * (--at, default 200 calls) the relaying process' CPU microseconds per relayed packet. CPU per
 * packet is compared at that same load: at light load fixed costs (timers, housekeeping)
 * dominate the per-packet figure, and past saturation every relay batches more per wake-up.
 *
 * Options: --relays=bare,rtpengine,plain,b2bua,b2bua-dgram,xworker --workers=2 (media workers; rtpengine
 *          threads) --gen=N (generator processes, or threads of the JavaScript one) --gen-impl=js --seconds=3 (per step) --max=1600 (calls)
 *          --at=200 --payload=speech|silence --cap=0 (1: step up to capacity, else --at only)
 *          --prof=DIR (CPU profiles of the relay processes, all threads)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { loadNativeUdp } from '../src/common/nativeUdp.ts';
import { buildCLoadgen, CGenerators } from './relay/cGenerators.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')) as Array<[string, string]>,
);
const workers = Number(args.workers ?? Math.max(1, os.availableParallelism()));
const genThreads = Number(args.gen ?? 1);
const seconds = Number(args.seconds ?? '3');
const maxCalls = Number(args.max ?? '1600');
const atCalls = Number(args.at ?? '200');
const payload = args.payload ?? 'speech';
const capacity = (args.cap ?? '1') !== '0';
/** --prof=DIR: the relay processes run with --cpu-prof (every thread writes a .cpuprofile there). */
const profDir = args.prof;
const HIST_BIN_MS = 0.05;
const haveRtpengine = spawnSync('rtpengine', ['--version']).status === 0;
const haveNative = loadNativeUdp() !== null && process.env.UDP_IO !== 'dgram';
let relays = (
  args.relays ??
  `bare,rtpengine,plain,b2bua,xworker${haveNative ? ',bare-native,b2bua-loop,b2bua-js,b2bua-dgram,plain-dgram' : ''}`
).split(',');
if (!haveNative) relays = relays.filter((r) => !r.endsWith('-native') && !r.endsWith('-js') && !r.endsWith('-loop'));
if (!haveRtpengine) relays = relays.filter((r) => r !== 'rtpengine');
if (workers < 2) relays = relays.filter((r) => r !== 'xworker');
// The C generator unless --gen-impl=js or it does not build (then the JavaScript one, said so).
const cLoadgen = args['gen-impl'] === 'js' ? { error: '--gen-impl=js' } : buildCLoadgen(payload);
const genImpl = 'bin' in cLoadgen ? 'C (bench/relay/loadgen.c)' : `JavaScript worker threads (${cLoadgen.error})`;

class RelayChild {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #waiters: Array<(l: string) => void> = [];
  constructor(mode: string) {
    this.child = spawn(
      process.execPath,
      [
        ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
        // BENCH_NODE_FLAGS: V8/Node flags for the relay processes only (--trace-gc, --trace-deopt...).
        ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(/\s+/) : []),
        '--import',
        'tsx',
        new URL('./relay/relayProcess.ts', import.meta.url).pathname,
        mode,
        String(workers),
      ],
      // Answers come on fd 3: the relay's stdout and stderr stay the terminal's (V8 traces).
      { stdio: ['pipe', 'inherit', 'inherit', 'pipe'] },
    );
    createInterface({ input: this.child.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => {
      const w = this.#waiters.shift();
      if (w) w(l);
      else this.#lines.push(l);
    });
  }
  next(): Promise<string> {
    const l = this.#lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.#waiters.push(r));
  }
  async ask(cmd: string): Promise<any> {
    this.child.stdin!.write(cmd + '\n');
    return JSON.parse(await this.next());
  }
  async close(): Promise<void> {
    this.child.stdin!.write('exit\n');
    await new Promise((r) => this.child.once('exit', r));
  }
}

/** What measure() drives: the worker-thread generators below or the C ones (cGenerators.ts). */
interface LoadGenerators {
  all(msg: object): Promise<any[]>;
  setLegs(legs: Array<[number, number]>): Promise<void>;
  close(): Promise<void>;
}

class Generators implements LoadGenerators {
  readonly threads: Worker[] = [];
  constructor(n: number) {
    const url = new URL('./relay/generator.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    for (let i = 0; i < n; i++) {
      this.threads.push(
        new Worker(
          `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`,
          { eval: true, workerData: { payload } },
        ),
      );
    }
  }
  #call(w: Worker, msg: object): Promise<any> {
    return new Promise((resolve) => {
      w.once('message', resolve);
      w.postMessage(msg);
    });
  }
  all(msg: object): Promise<any[]> {
    return Promise.all(this.threads.map((w) => this.#call(w, msg)));
  }
  async setLegs(legs: Array<[number, number]>): Promise<void> {
    const parts: Array<Array<[number, number]>> = this.threads.map(() => []);
    legs.forEach((l, i) => parts[i % this.threads.length]!.push(l));
    await Promise.all(this.threads.map((w, i) => this.#call(w, { cmd: 'legs', legs: parts[i] })));
  }
  async close(): Promise<void> {
    for (const w of this.threads) w.postMessage({ cmd: 'close' });
    await Promise.all(this.threads.map((w) => new Promise((r) => w.once('exit', r))));
  }
}

interface Step {
  calls: number;
  loss: number;
  p50: number;
  p99: number;
  /** p99 at the time the generator read the packet (C generator only): see bench/relay/loadgen.c. */
  p99Read?: number;
  cpuUsPerPacket: number;
  pps: number;
  ok: boolean;
  /** Server modes: the share the native relay threads relayed (RELAY_THREADS > 0). */
  byThread?: number;
  /** Server modes: the share of relayed packets the addon relayed itself (the relay offload). */
  offloaded?: number;
  dtmf?: Record<string, number>;
  /** bare-native: the addon's counters over the step (how much the system calls batched). */
  udp?: Record<string, number>;
}

function percentile(hist: number[], total: number, p: number): number {
  let acc = 0;
  const target = total * p;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= target) return i * HIST_BIN_MS;
  }
  return Infinity;
}

async function measure(relay: RelayChild, gens: LoadGenerators, calls: number): Promise<Step> {
  const { legs, error } = await relay.ask(`calls ${calls}`);
  if (error) throw new Error(`cannot set up ${calls} calls: ${error}`);
  await gens.setLegs(legs);
  await gens.all({ cmd: 'start' });
  await new Promise((r) => setTimeout(r, 1000)); // latching, warm-up
  await gens.all({ cmd: 'measure' });
  const s0 = await relay.ask('cpu');
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const s1 = await relay.ask('cpu');
  if (process.env.BENCH_LAG) console.log('    worker loop lag p99/max ms', JSON.stringify(s1.lag));
  await gens.all({ cmd: 'stopSending' });
  await new Promise((r) => setTimeout(r, 200)); // in-flight packets
  const reports = await gens.all({ cmd: 'report' });
  const sent = reports.reduce((s, r) => s + r.sent, 0);
  const received = reports.reduce((s, r) => s + r.received, 0);
  const hist = reports[0].hist.map((_: number, i: number) => reports.reduce((s, r) => s + r.hist[i], 0));
  // rtpengine reports no counter here: what the generator got back is what it relayed.
  const relayed = s0.relayed === null ? received : s1.relayed - s0.relayed;
  const loss = sent === 0 ? 1 : Math.max(0, 1 - received / sent);
  const p99 = percentile(hist, received, 0.99);
  // The C generator also reports when it read each packet (its own CPU wait included).
  const histRead: number[] | undefined = reports[0].histRead?.map((_: number, i: number) =>
    reports.reduce((s, r) => s + r.histRead[i], 0),
  );
  const dtmf = s1.dtmf
    ? Object.fromEntries(Object.entries(s1.dtmf as Record<string, number>).map(([k, v]) => [k, v - (s0.dtmf[k] ?? 0)]))
    : undefined;
  return {
    calls,
    loss,
    p50: percentile(hist, received, 0.5),
    p99,
    ...(histRead ? { p99Read: percentile(histRead, received, 0.99) } : {}),
    cpuUsPerPacket: relayed > 0 ? (s1.cpuUs - s0.cpuUs) / relayed : Infinity,
    pps: relayed / seconds,
    ok: loss < 0.01 && p99 < 5,
    ...(typeof s1.offloaded === 'number' && relayed > 0 ? { offloaded: (s1.offloaded - s0.offloaded) / relayed } : {}),
    ...(typeof s1.byThread === 'number' && relayed > 0 ? { byThread: (s1.byThread - s0.byThread) / relayed } : {}),
    ...(dtmf ? { dtmf } : {}),
    ...(s1.udp
      ? {
          udp: Object.fromEntries(
            Object.entries(s1.udp as Record<string, number>).map(([k, v]) => [k, v - (s0.udp[k] ?? 0)]),
          ),
        }
      : {}),
  };
}

function line(mode: string, s: Step): string {
  const d =
    s.dtmf && s.dtmf.inbandWindows
      ? ` in-band DTMF windows=${s.dtmf.inbandWindows} analysed=${((100 * (s.dtmf.inbandAnalysed ?? 0)) / s.dtmf.inbandWindows).toFixed(0)}% measured=${((100 * (s.dtmf.inbandMeasured ?? 0)) / s.dtmf.inbandWindows).toFixed(2)}%`
      : '';
  const u = s.udp;
  const b =
    u && u.recvCalls && u.deliveries && u.sendCalls
      ? ` datagrams per recvmmsg=${(u.recvPackets! / u.recvCalls).toFixed(2)} per JS call=${(u.recvPackets! / u.deliveries).toFixed(2)} per sendmmsg=${(u.sendPackets! / u.sendCalls).toFixed(2)}`
      : '';
  return `  ${mode.padEnd(11)} calls=${String(s.calls).padStart(4)} loss=${(s.loss * 100).toFixed(2)}% p50=${s.p50.toFixed(2)}ms p99=${s.p99.toFixed(2)}ms${s.p99Read !== undefined ? ` (read ${s.p99Read.toFixed(2)})` : ''} cpu/pkt=${s.cpuUsPerPacket.toFixed(2)}us relayed=${Math.round(s.pps)}pps ${s.ok ? 'ok' : 'FAIL'}${s.offloaded !== undefined ? ` offloaded=${(s.offloaded * 100).toFixed(1)}%` : ''}${s.byThread ? ` (relay thread ${(s.byThread * 100).toFixed(1)}%)` : ''}${d}${b}`;
}

async function run(mode: string): Promise<{ mode: string; best: Step | null; at: Step | null; steps: Step[] }> {
  const relay = new RelayChild(mode);
  const ready = JSON.parse(await relay.next()) as { udpIo: string | null };
  if (ready.udpIo) console.log(`  ${mode}: UDP I/O ${ready.udpIo}`);
  const gens: LoadGenerators = 'bin' in cLoadgen ? new CGenerators(genThreads, cLoadgen) : new Generators(genThreads);
  const steps: Step[] = [];
  let best: Step | null = null;
  let at: Step | null = null;
  // Up to the comparison load first (doubling from 50 passes through 200), then on to capacity.
  let calls = capacity ? Math.min(50, atCalls) : atCalls;
  let lastFail = Infinity;
  while (calls <= maxCalls) {
    let s: Step;
    try {
      s = await measure(relay, gens, calls);
    } catch (err) {
      console.log(`  ${mode} calls=${calls}: ${(err as Error).message}; stopping here`);
      break;
    }
    steps.push(s);
    console.log(line(mode, s));
    if (s.calls === atCalls) at = s;
    if (!capacity) break;
    if (s.ok) {
      if (best === null || s.calls > best.calls) best = s;
    } else if (calls >= atCalls) lastFail = Math.min(lastFail, calls);
    // Double through --at whatever happens (the comparison load is always measured), then until
    // the first failure, then one bisection step between the last pass and it.
    if (calls < atCalls) calls = calls * 2 > atCalls ? atCalls : calls * 2;
    else if (lastFail === Infinity) calls *= 2;
    else {
      const next = Math.round(((best?.calls ?? 0) + lastFail) / 2 / 25) * 25;
      if (next <= (best?.calls ?? 0) || next >= lastFail || steps.length > 10) break;
      calls = next;
    }
    // The relay keeps its calls: going down means a fresh relay.
    if (calls < steps[steps.length - 1]!.calls) break;
  }
  await gens.close();
  await relay.close();
  return { mode, best, at, steps };
}

console.log(
  `bench:relay — ${os.availableParallelism()} cores (load average ${os.loadavg()[0]!.toFixed(1)}), media workers ${workers}, generator ${genImpl} × ${genThreads}, ${seconds}s per step, payload ${payload}${haveRtpengine ? '' : ', rtpengine not installed'}`,
);
const results: Array<Awaited<ReturnType<typeof run>>> = [];
for (const mode of relays) results.push(await run(mode));

const byMode = (m: string) => results.find((r) => r.mode === m);
const cpuAt = (m: string) => byMode(m)?.at?.cpuUsPerPacket ?? NaN;
console.log(
  `\nresults at ${atCalls} calls (${atCalls * 100} packets/s relayed), CPU of the relaying process per relayed packet`,
);
console.log('  relay      cpu/pkt   loss    p99     highest N (loss<1%, p99<5ms)');
for (const r of results) {
  const a = r.at;
  console.log(
    `  ${r.mode.padEnd(11)} ${a ? `${a.cpuUsPerPacket.toFixed(2).padStart(6)}us ${(a.loss * 100).toFixed(2).padStart(5)}% ${a.p99.toFixed(2).padStart(6)}ms` : '      -       -        -'}   ${capacity ? (r.best?.calls ?? 0) : '-'}`,
  );
}
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? (a / b).toFixed(2) : 'n/a');
console.log('ratios (same run, same load)');
console.log(`  plain / b2bua CPU per packet:         ${ratio(cpuAt('plain'), cpuAt('b2bua'))}  (target <= 1.15)`);
console.log(`  b2bua efficiency vs bare (bare/b2bua): ${ratio(cpuAt('bare'), cpuAt('b2bua'))}  (target >= 0.9)`);
console.log(`  b2bua / rtpengine CPU per packet:     ${ratio(cpuAt('b2bua'), cpuAt('rtpengine'))}  (target <= 1)`);
console.log(`  xworker / b2bua CPU per packet:       ${ratio(cpuAt('xworker'), cpuAt('b2bua'))}`);
console.log(`  b2bua-js / b2bua (relay offload gain): ${ratio(cpuAt('b2bua-js'), cpuAt('b2bua'))}`);
console.log(`  b2bua-loop / b2bua (relay threads):    ${ratio(cpuAt('b2bua-loop'), cpuAt('b2bua'))}`);
console.log(`  b2bua-dgram / b2bua (native I/O gain): ${ratio(cpuAt('b2bua-dgram'), cpuAt('b2bua'))}`);
console.log(`  plain-dgram / plain (native I/O gain): ${ratio(cpuAt('plain-dgram'), cpuAt('plain'))}`);
console.log(`  bare / bare-native (native I/O gain):  ${ratio(cpuAt('bare'), cpuAt('bare-native'))}`);
process.exit(0);
