/**
 * One thread of bench:cross-worker (bench/cross-worker.ts): the producer (the worker that
 * received the packet and runs the bridge link) or the consumer (the worker owning the other leg).
 *
 *   local: the producer sends to the sink itself (a same-worker bridge: LocalTarget).
 *   port:  producer postMessage([copy, source, seq, ts]) over a MessageChannel, consumer sends
 *          on 'message' (the cross-worker path before the rings, as RemoteTarget did it).
 *   ring:  producer RingTarget-style push into a SpscRing + Doorbell.ring(), consumer RingInbox.
 *   poll:  the same rings without the doorbell: the consumer reads every ring each 1 ms timer
 *          tick (the alternative to waking it; costs latency and a timer per worker).
 *
 * Packets are 172-byte PCMU RTP; bytes 12..19 carry the send time (ms since the epoch, float64)
 * so the sink measures latency. CPU per thread comes from /proc/thread-self/stat.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Doorbell } from '../../src/common/Doorbell.ts';
import { SpscRing } from '../../src/common/SpscRing.ts';
import { RingInbox } from '../../src/media/engines/RingInbox.ts';

interface Data {
  role: 'producer' | 'consumer';
  mode: 'local' | 'port' | 'ring' | 'poll';
  sinkPort: number;
  rate: number;
  seconds: number;
  ports?: MessagePort[];
  rings?: SharedArrayBuffer[];
  bell?: SharedArrayBuffer;
}

const d = workerData as Data;
const parent = parentPort!;
const sock = dgram.createSocket('udp4');
sock.bind(0, '127.0.0.1');
await new Promise((r) => sock.once('listening', r));
const HOST = '127.0.0.1';

/**
 * This thread's CPU time in ms (Linux: utime + stime of /proc/thread-self/stat, 100 ticks/s),
 * or its event loop's busy wall time where /proc is missing (inflated on a loaded machine).
 */
function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return performance.eventLoopUtilization().active;
  }
}

function reportWhenAsked(counters: () => Record<string, number>): void {
  let cpu0 = threadCpuMs();
  parent.on('message', (m: string) => {
    if (m === 'mark') {
      cpu0 = threadCpuMs();
      parent.postMessage({ marked: true });
    } else if (m === 'report') {
      parent.postMessage({ activeMs: threadCpuMs() - cpu0, ...counters() });
    }
  });
}

if (d.role === 'consumer') {
  let relayed = 0;
  if (d.mode === 'port') {
    const onMessage = (m: [Uint8Array, number, number, number]) => {
      relayed++;
      sock.send(m[0], 0, m[0].length, d.sinkPort, HOST);
    };
    for (const port of d.ports!) port.on('message', onMessage);
  } else if (d.mode === 'poll') {
    const rings = d.rings!.map((r) => new SpscRing(r));
    const words = Array.from({ length: 64 }, () => new Uint32Array(1024));
    const bytes = words.map((w) => new Uint8Array(w.buffer));
    let slot = 0;
    let polls = 0;
    setInterval(() => {
      polls++;
      // At most 64 packets per tick per copy buffer round (dgram reads them on the next tick).
      for (let budget = 64, i = 0; i < rings.length && budget > 0; i++) {
        const ring = rings[i]!;
        let length: number;
        while (budget > 0 && (length = ring.read(words[slot]!)) >= 0) {
          relayed++;
          budget--;
          sock.send(bytes[slot]!, 0, length, d.sinkPort, HOST);
          slot = (slot + 1) & 63;
        }
      }
    }, 1);
    reportWhenAsked(() => ({ relayed, wakeups: polls }));
  } else {
    const inbox = new RingInbox(d.bell!, SpscRing.maxPayloadOf(16384));
    const sink = {
      sendRelayed(buf: Uint8Array, length: number) {
        relayed++;
        sock.send(buf, 0, length, d.sinkPort, HOST);
        return true;
      },
    };
    for (const ring of d.rings!) inbox.add(new SpscRing(ring), sink);
    reportWhenAsked(() => ({ relayed, wakeups: inbox.wakeups }));
  }
  if (d.mode === 'port') reportWhenAsked(() => ({ relayed }));
  parent.postMessage({ ready: true });
} else {
  const pool = Array.from({ length: 256 }, () => Buffer.alloc(172, 0xd5));
  let slot = 0;
  let sent = 0;
  let dropped = 0;
  // One ring (or port) per bridge; consecutive packets belong to consecutive bridges.
  const rings = (d.rings ?? []).map((r) => new SpscRing(r));
  const ports = d.ports ?? [];
  const bridges = Math.max(rings.length, ports.length, 1);
  const bell = d.bell ? new Doorbell(d.bell) : null;
  reportWhenAsked(() => ({ sent, dropped }));
  parent.postMessage({ ready: true });
  parent.once('message', function go(m: string) {
    if (m !== 'go') return void parent.once('message', go);
    const start = performance.now();
    const total = Math.round(d.rate * d.seconds);
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * d.rate));
      const now = performance.timeOrigin + performance.now();
      while (sent < due) {
        const buf = pool[slot]!;
        slot = (slot + 1) & 255;
        buf[0] = 0x80;
        buf[1] = 0;
        buf.writeUInt16BE(sent & 0xffff, 2);
        buf.writeUInt32BE((sent * 160) >>> 0, 4);
        buf.writeDoubleLE(now, 12);
        const bridge = sent % bridges;
        if (d.mode === 'local') sock.send(buf, 0, 172, d.sinkPort, HOST);
        else if (d.mode === 'port') ports[bridge]!.postMessage([buf.slice(0, 172), 7, sent & 0xffff, sent * 160]);
        else if (rings[bridge]!.push(buf, 172, 7, sent & 0xffff, sent * 160)) {
          if (d.mode === 'ring') bell!.ring();
        } else dropped++;
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        parent.postMessage({ done: true });
      }
    }, 1);
  });
}
