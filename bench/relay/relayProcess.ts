/**
 * The relay under test, as a child process driven by line commands on stdin:
 *   `calls N`  → grow to N bridged calls, answer `{"legs":[[portA,portB],...]}`
 *   `cpu`      → answer `{"cpuUs":..., "relayed":..., "dtmf":{...}}` (CPU time of the relaying
 *                process, packets relayed, in-band DTMF analysis counters of the server)
 * Modes:
 * - `bare`: a plain Node dgram relay, the ceiling for Node;
 * - `plain`: media-server-core, PCMU offers without telephone-event and no affinity key (what
 *   most B2BUAs send; both legs created with the peer's offer, so placement is by load). In-band
 *   DTMF follows DTMF_INBAND (default `auto`: nobody consumes digits here, so no detection;
 *   `DTMF_INBAND=plain npm run bench:relay` measures the always-listening behaviour);
 * - `b2bua`: PCMU + telephone-event offers, one affinity key per call (both legs on one worker);
 * - `xworker`: PCMU + telephone-event, the two legs forced onto different workers (two affinity
 *   keys chosen to map to different workers): every packet crosses threads;
 * - `rtpengine`: Debian's rtpengine-daemon in userspace (no kernel module), driven over its ng
 *   control protocol on 127.0.0.1; its CPU is read from /proc.
 * A server mode with the suffix `-js` runs with RELAY_OFFLOAD=off (native I/O, every packet
 * through JavaScript), the path of the server before the relay offload; with `-loop`, with
 * RELAY_THREADS=0 (the offload on the media workers' loops, before the relay threads). Otherwise
 * RELAY_THREADS is the environment's, else the number of media workers (as rtpengine's
 * --num-threads).
 * A server mode or `bare` with the suffix `-dgram` or `-native` forces that UDP I/O (UDP_IO);
 * without it the server uses UDP_IO of the environment (auto: native when the addon is built)
 * and `bare` stays on node:dgram (the ceiling of a plain Node relay). BENCH_NATIVE_SEND=immediate
 * makes bare-native send each datagram at once (sendto) instead of through the per-turn queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config/config.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaServer } from '../../src/control/MediaServer.ts';
import { AudioPrepPool } from '../../src/media/prep/AudioPrepPool.ts';
import { resolveUdpIo, type UdpIoSetting } from '../../src/common/nativeUdp.ts';
import {
  NativeUdpTransport,
  nativeUdpStats,
  setNativeUdpBatching,
} from '../../src/media/transport/udp/NativeUdpTransport.ts';
import type { UdpTransport } from '../../src/media/transport/udp/UdpTransport.ts';
import { NgClient } from './ng.ts';

const suffix = /-(dgram|native|js|loop)$/.exec(process.argv[2]!);
const mode = suffix ? process.argv[2]!.slice(0, suffix.index) : process.argv[2]!;
const relayOffload = suffix?.[1] === 'js' ? 'off' : (process.env.RELAY_OFFLOAD ?? 'on');
const envIo = process.env.UDP_IO;
const udpIoSetting: UdpIoSetting =
  suffix?.[1] === 'dgram' || suffix?.[1] === 'native'
    ? (suffix[1] as UdpIoSetting)
    : envIo === 'native' || envIo === 'dgram'
      ? envIo
      : 'auto';
const udpIo = resolveUdpIo(mode === 'bare' && !suffix ? 'dgram' : udpIoSetting).io;
const workers = Number(process.argv[3] ?? '1');
const relayThreads = suffix?.[1] === 'loop' ? '0' : (process.env.RELAY_THREADS ?? String(workers));

interface Relay {
  grow(n: number): Promise<Array<[number, number]>>;
  /** CPU microseconds of the relaying process(es) and packets relayed (null: the generator counts). */
  sample(): Promise<{
    cpuUs: number;
    relayed: number | null;
    offloaded?: number;
    byThread?: number;
    dtmf?: Record<string, number>;
    udp?: Record<string, number>;
  }>;
  close(): Promise<void>;
}

function selfCpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Two sockets per call; each forwards to the address last seen on the other (latching). */
function bareRelay(): Relay {
  const legs: Array<[number, number]> = [];
  let relayed = 0;
  return {
    async grow(n) {
      while (legs.length < n) {
        const a = dgram.createSocket('udp4');
        const b = dgram.createSocket('udp4');
        a.bind(0, '127.0.0.1');
        b.bind(0, '127.0.0.1');
        await Promise.all([once(a, 'listening'), once(b, 'listening')]);
        let peerA = 0;
        let peerB = 0;
        a.on('message', (msg, rinfo) => {
          peerA = rinfo.port;
          if (peerB !== 0) {
            b.send(msg, peerB, '127.0.0.1');
            relayed++;
          }
        });
        b.on('message', (msg, rinfo) => {
          peerB = rinfo.port;
          if (peerA !== 0) {
            a.send(msg, peerA, '127.0.0.1');
            relayed++;
          }
        });
        legs.push([a.address().port, b.address().port]);
      }
      return legs;
    },
    async sample() {
      return { cpuUs: selfCpu(), relayed };
    },
    async close() {},
  };
}

/** The bare relay on the batched native addon (recvmmsg/sendmmsg): the ceiling of that I/O. */
function bareNativeRelay(): Relay {
  const legs: Array<[number, number]> = [];
  let relayed = 0;
  return {
    async grow(n) {
      while (legs.length < n) {
        const a: UdpTransport = new NativeUdpTransport(4);
        // BENCH_NATIVE_SEND=immediate: every send is a sendto at once (no per-turn queue).
        if (legs.length === 0) setNativeUdpBatching(process.env.BENCH_NATIVE_SEND !== 'immediate');
        const b: UdpTransport = new NativeUdpTransport(4);
        await a.bind('127.0.0.1', 0);
        await b.bind('127.0.0.1', 0);
        let peerA = 0;
        let peerB = 0;
        a.onMessage = (msg, rinfo) => {
          peerA = rinfo.port;
          if (peerB !== 0) {
            b.send(msg, 0, msg.length, peerB, '127.0.0.1');
            relayed++;
          }
        };
        b.onMessage = (msg, rinfo) => {
          peerB = rinfo.port;
          if (peerA !== 0) {
            a.send(msg, 0, msg.length, peerA, '127.0.0.1');
            relayed++;
          }
        };
        legs.push([a.address().port, b.address().port]);
      }
      return legs;
    },
    async sample() {
      return { cpuUs: selfCpu(), relayed, udp: { ...nativeUdpStats()! } };
    },
    async close() {},
  };
}

/** Where the SDP says the peer is until it latches (nothing listens there; the generator binds ephemeral ports). */
const PLACEHOLDER_PORT = 50000;
const sdp = (port: number, te: boolean): string =>
  [
    'v=0',
    `o=gen 1 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0${te ? ' 101' : ''}`,
    'a=rtpmap:0 PCMU/8000',
    ...(te ? ['a=rtpmap:101 telephone-event/8000'] : []),
    'a=ptime:20',
    '',
  ].join('\r\n');

async function serverRelay(variant: 'plain' | 'b2bua' | 'xworker'): Promise<Relay> {
  const config = loadConfig({
    MEDIA_WORKERS: String(workers),
    DTMF_INBAND: process.env.DTMF_INBAND ?? 'auto',
    UDP_IO: udpIo,
    RELAY_OFFLOAD: relayOffload,
    RELAY_THREADS: relayThreads,
    ...(process.env.SILENCE_FILL ? { SILENCE_FILL: process.env.SILENCE_FILL } : {}),
    LOG_LEVEL: 'silent',
    RTP_PORT_START: '10000',
    RTP_PORT_END: '30999',
    MEDIA_TIMEOUT_MS: '0',
  });
  const server = new MediaServer(config, silentLogger, { prep: AudioPrepPool.start });
  await server.start();
  // Start-up work on other threads (encoder and TTS warm-up) must not land in a measurement:
  // wait until the process is idle (under 5% of a core over 300 ms, at most 15 s).
  for (let i = 0; i < 50; i++) {
    const c0 = selfCpu();
    await new Promise((r) => setTimeout(r, 300));
    if (selfCpu() - c0 < 15_000) break;
  }
  const legs: Array<[number, number]> = [];
  // The generator's ports are unknown here: the SDP names a placeholder and symmetric RTP
  // latches on the first packet, as it would behind a NAT.
  const offer = sdp(PLACEHOLDER_PORT, variant !== 'plain');
  // xworker: affinity keys that map to worker 0 and worker 1 (found once, reused per call index).
  const keyFor = (call: number, worker: number): string => {
    for (let k = 0; ; k++) {
      const key = `x-${call}-${worker}-${k}`;
      if (server.workerForAffinity(key) === worker) return key;
    }
  };
  if (variant === 'xworker' && workers < 2) throw new Error('xworker needs --workers=2 or more');
  return {
    async grow(n) {
      while (legs.length < n) {
        const i = legs.length;
        const affA = variant === 'b2bua' ? `call-${i}` : variant === 'xworker' ? keyFor(i, 0) : undefined;
        const affB = variant === 'b2bua' ? `call-${i}` : variant === 'xworker' ? keyFor(i, 1) : undefined;
        const a = await server.createEndpoint({ remote_sdp: offer, ...(affA ? { affinity: affA } : {}) });
        const b = await server.createEndpoint({ remote_sdp: offer, ...(affB ? { affinity: affB } : {}) });
        await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
        legs.push([a.rtp_port, b.rtp_port]);
      }
      return legs;
    },
    async sample() {
      const m = await server.workerMetrics();
      const dtmf: Record<string, number> = {};
      for (const w of m) for (const [k, v] of Object.entries(w.engines?.dtmf ?? {})) dtmf[k] = (dtmf[k] ?? 0) + v;
      return {
        cpuUs: selfCpu(),
        relayed: m.reduce((s, x) => s + x.packetsRelayed, 0),
        offloaded: m.reduce((s, x) => s + x.packetsOffloaded, 0),
        byThread: m.reduce((s, x) => s + x.packetsOffloadedByThread, 0),
        lag: m.map((x) => [x.eventLoopLagMs.p99, x.eventLoopLagMs.max]),
        dtmf,
      };
    },
    close: () => server.close(),
  };
}

/** rtpengine, userspace forwarding (--table=-1), one offer/answer per call over ng. */
async function rtpengineRelay(): Promise<Relay> {
  const ngPort = 22222 + (process.pid % 1000);
  const child: ChildProcess = spawn(
    'rtpengine',
    [
      '--foreground',
      '--log-stderr',
      '--log-level=3',
      '--table=-1',
      '--interface=127.0.0.1',
      `--listen-ng=127.0.0.1:${ngPort}`,
      '--port-min=31000',
      '--port-max=39999',
      `--num-threads=${workers}`,
      '--config-file=none',
      '--delete-delay=0',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const ng = new NgClient(ngPort);
  for (let i = 0; ; i++) {
    try {
      await ng.request({ command: 'ping' }, 200);
      break;
    } catch (err) {
      if (i > 50) throw err;
    }
  }
  const clk = 100; // USER_HZ
  const cpuUs = (): number => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1e6) / clk; // utime, stime
  };
  const legs: Array<[number, number]> = [];
  const portOf = (s: string): number => Number(/m=audio (\d+)/.exec(s)![1]);
  return {
    async grow(n) {
      while (legs.length < n) {
        const id = `bench-${legs.length}`;
        const o = await ng.request({
          command: 'offer',
          'call-id': id,
          'from-tag': 'a',
          sdp: sdp(PLACEHOLDER_PORT, true),
        });
        if (o.result !== 'ok') throw new Error(`rtpengine offer: ${String(o['error-reason'] ?? o.result)}`);
        const r = await ng.request({
          command: 'answer',
          'call-id': id,
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: sdp(PLACEHOLDER_PORT, true),
        });
        if (r.result !== 'ok') throw new Error(`rtpengine answer: ${String(r['error-reason'] ?? r.result)}`);
        // The offer's rewritten SDP goes to the callee (where B sends), the answer's to the caller.
        legs.push([portOf(r.sdp as string), portOf(o.sdp as string)]);
      }
      return legs;
    },
    async sample() {
      return { cpuUs: cpuUs(), relayed: null };
    },
    async close() {
      ng.close();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

const relay =
  mode === 'bare'
    ? udpIo === 'native'
      ? bareNativeRelay()
      : bareRelay()
    : mode === 'rtpengine'
      ? await rtpengineRelay()
      : await serverRelay(mode as 'plain' | 'b2bua' | 'xworker');
// Answers go on fd 3, so stdout stays free for what V8 prints (NODE_OPTIONS=--trace-gc ...).
const control = createWriteStream('', { fd: 3 });
function reply(line: string): void {
  control.write(line);
}
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'calls') {
    try {
      const legs = await relay.grow(Number(arg));
      reply(JSON.stringify({ legs }) + '\n');
    } catch (err) {
      // e.g. EMFILE: the machine's open-file limit, not the relay, ends the stepping
      reply(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) + '\n');
    }
  } else if (cmd === 'cpu') {
    reply(JSON.stringify(await relay.sample()) + '\n');
  } else if (cmd === 'exit') {
    await relay.close();
    process.exit(0);
  }
});
reply(JSON.stringify({ ready: true, udpIo: mode === 'rtpengine' ? null : udpIo }) + '\n');
