/**
 * npm run bench:streams — media streams to voice bots, against a plain bridge measured in the
 * same run (not a timed test).
 *
 * The server (one media worker) runs in this process; the callers and the echo bot run in
 * bench/streams/load.ts, a process of their own, so process.cpuUsage() here is the server's.
 * Each call sends PCMU 20 ms frames in real time.
 *   relay   two endpoints bridged (same codec: relayed on receipt): the baseline of latency and CPU;
 *   stream  one endpoint with a bidirectional Twilio-mode stream (8 kHz µ-law) to the echo bot,
 *           which sends every chunk straight back: RTP in → WebSocket → bot → WebSocket → queue →
 *           media clock → RTP out.
 * Reported per load: loss, loop latency p50/p99 (RTP out of the caller to RTP back), the inbound
 * leg (RTP → the bot has the message) p50/p99, the worker's tick lateness p99, and the server's
 * CPU. The bot's audio is paced by the 20 ms media clock, so the loop includes the wait for the
 * next 20 ms frame slot: with the callers spread over every phase, a path costing nothing would
 * show that wait alone, uniform over 0..20 ms (p50 10 ms, p99 19.8 ms). "added" is what the loop
 * shows beyond it: loop p50 − 10 and loop p99 − 19.8; for the relay (no clock) the loop itself.
 *
 * Options: --calls=50,100,200 --seconds=4
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { loadConfig } from '../src/config/config.ts';
import { silentLogger } from '../src/common/logger.ts';
import { MediaServer } from '../src/control/MediaServer.ts';
import { AudioPrepPool } from '../src/media/prep/AudioPrepPool.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')) as Array<[string, string]>,
);
const loads = (args.calls ?? '50,100,200').split(',').map(Number);
const seconds = Number(args.seconds ?? 4);
const maxCalls = Math.max(...loads);

function offer(port: number): string {
  return [
    'v=0',
    'o=bench 1 1 IN IP4 127.0.0.1',
    's=bench',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

const child = fork(new URL('./streams/load.ts', import.meta.url).pathname, [], {
  execArgv: ['--import', 'tsx'],
});
function ask<T>(msg: Record<string, unknown>): Promise<T> {
  child.send(msg);
  return once(child, 'message').then(([m]) => m as T);
}

const server = new MediaServer(
  loadConfig({
    MEDIA_WORKERS: '1',
    LOG_LEVEL: 'silent',
    SILENCE_FILL: 'off',
    RTP_PORT_START: '61100', // above Linux's ephemeral range (the load side's sockets)
    RTP_PORT_END: String(61100 + maxCalls * 4 + 20),
    EVENT_BUFFER_SIZE: '100000',
  }),
  silentLogger,
  { prep: AudioPrepPool.start },
);
await server.start();
// the TTS threads warm espeak-ng at start: let that finish before measuring
await new Promise((r) => setTimeout(r, 3000));
const peers = await ask<{ portsA: number[]; portsB: number[]; botUrl: string }>({ cmd: 'open', n: maxCalls });

interface Row {
  mode: string;
  calls: number;
  sent: number;
  received: number;
  loopP50: number;
  loopP99: number;
  inboundP50: number;
  inboundP99: number;
  cpu: number;
  lateP99: number;
}

async function measure(mode: string, calls: number, targets: number[]): Promise<Row> {
  await server.workerMetrics(); // resets the tick lateness window
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await ask<Omit<Row, 'mode' | 'calls' | 'cpu' | 'lateP99'>>({ cmd: 'run', targets, seconds });
  const c = process.cpuUsage(c0);
  const elapsed = (performance.now() - t0) * 1000;
  const m = await server.workerMetrics();
  return { mode, calls, ...r, cpu: (c.user + c.system) / elapsed, lateP99: m[0]?.clock?.lateP99Ms ?? Number.NaN };
}

const rows: Row[] = [];
for (const n of loads) {
  // baseline: n bridged calls, relayed on receipt
  const a = await Promise.all(peers.portsA.slice(0, n).map((p) => server.createEndpoint({ remote_sdp: offer(p) })));
  const b = await Promise.all(peers.portsB.slice(0, n).map((p) => server.createEndpoint({ remote_sdp: offer(p) })));
  for (let i = 0; i < n; i++) await server.createBridge({ endpoint_a: a[i]!.id, endpoint_b: b[i]!.id });
  rows.push(
    await measure(
      'relay',
      n,
      a.map((e) => e.rtp_port),
    ),
  );
  await Promise.all([...a, ...b].map((e) => server.deleteEndpoint(e.id)));

  // n bidirectional streams to the echo bot
  const eps = await Promise.all(peers.portsA.slice(0, n).map((p) => server.createEndpoint({ remote_sdp: offer(p) })));
  let started = 0;
  const allStarted = new Promise<void>((resolve) => {
    const off = server.events.subscribe((e) => {
      if (e.type === 'stream.started' && ++started === n) {
        off();
        resolve();
      }
    });
  });
  for (const e of eps) await server.streams.start({ endpointId: e.id, url: peers.botUrl });
  await allStarted;
  const row = await measure(
    'stream',
    n,
    eps.map((e) => e.rtp_port),
  );
  const stats = await Promise.all(
    server.streams
      .list()
      .filter((s) => s.state !== 'stopped')
      .map((s) => server.streams.get(s.id)),
  );
  const dropped = stats.reduce((x, s) => x + (s.stats?.framesDropped ?? 0), 0);
  const overruns = stats.reduce((x, s) => x + (s.stats?.queueOverruns ?? 0), 0);
  rows.push(row);
  if (dropped + overruns > 0) console.log(`  (stream: ${dropped} frames dropped, ${overruns} queue overruns)`);
  await Promise.all(eps.map((e) => server.deleteEndpoint(e.id)));
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(
  'mode    calls   loss%  loop-p50  loop-p99  in-p50  in-p99  added-p50  added-p99  tick-late-p99  cpu%  calls/core',
);
for (const r of rows) {
  const loss = r.sent > 0 ? (1 - r.received / r.sent) * 100 : 0;
  console.log(
    `${r.mode.padEnd(7)} ${String(r.calls).padStart(5)} ${f(loss).padStart(7)} ${f(r.loopP50).padStart(9)} ${f(r.loopP99).padStart(9)} ${f(r.inboundP50).padStart(7)} ${f(r.inboundP99).padStart(7)} ${f(r.loopP50 - (r.mode === 'stream' ? 10 : 0)).padStart(10)} ${f(r.loopP99 - (r.mode === 'stream' ? 19.8 : 0)).padStart(10)} ${f(r.lateP99).padStart(14)} ${f(r.cpu * 100, 0).padStart(5)} ${f(r.calls / r.cpu, 0).padStart(11)}`,
  );
}
for (const n of loads) {
  const relay = rows.find((r) => r.mode === 'relay' && r.calls === n);
  const stream = rows.find((r) => r.mode === 'stream' && r.calls === n);
  if (!relay || !stream) continue;
  console.log(
    `${n} calls: added p99 stream ${f(stream.loopP99 - 19.8)} ms vs relay ${f(relay.loopP99)} ms (goal < 5 ms); ` +
      `inbound leg p99 ${f(stream.inboundP99)} ms; CPU per stream / per relayed call = ${f(stream.cpu / stream.calls / (relay.cpu / relay.calls), 1)}x; ` +
      `streams per core at this load ${f(stream.calls / stream.cpu, 0)} (goal >= 100)`,
  );
}
await ask({ cmd: 'exit' }).catch(() => undefined);
child.kill();
await server.close();
process.exit(0);
