/**
 * The relay thread of bench/relay-offload.ts: one bridged direction on the native addon, either
 * relayed inside the addon (an armed route) or delivered to JavaScript, which does what the relay
 * offload replaces: checks the source, maps the payload type, rewrites the header into the SENDER
 * block (under its lock, as the shared block will be) and sends. CPU per thread from
 * /proc/thread-self/schedstat.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { loadNativeUdp, type NativeUdpArena } from '../../src/common/nativeUdp.ts';
import { seqAdd, seqDiff, tsAdd } from '../../src/common/seq.ts';
import {
  L,
  LOG_INTS,
  R,
  ROUTE_INTS,
  S,
  SENDER_BYTES,
  SENDER_FLOAT_OFFSET,
  SENDER_FLOATS,
  SENDER_INTS,
  SF,
} from '../../src/media/transport/udp/offloadLayout.ts';

const { mode, genPort, sinkPort, ssrcIn, streams } = workerData as {
  mode: 'native' | 'js';
  genPort: number;
  sinkPort: number;
  ssrcIn: number;
  streams: number;
};
const LOOPBACK = 0x7f000001;
const addon = loadNativeUdp()!;
let received = 0;
let octets = 0;

/** One bridged direction: its source socket, route, destination socket and SENDER block. */
interface Stream {
  src: number;
  dst: number;
  srcPort: number;
  route: Int32Array;
  s: Int32Array;
  f: Float64Array;
}

/** This thread's CPU time in ms, to the ns (Linux schedstat: time on CPU; /stat counts 10 ms ticks). */
function threadCpuMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
}

/** What JavaScript does per relayed packet today (RtpSender.rewrite, over the shared block). */
function rewrite(st: Stream, buf: Uint8Array, off: number, len: number, now: number): void {
  const { s, f, route } = st;
  while (Atomics.compareExchange(s, S.LOCK, 0, 1) !== 0);
  buf[off + 1] = (buf[off + 1]! & 0x80) | s[S.PT_OUT]!;
  const seqIn = (buf[off + 2]! << 8) | buf[off + 3]!;
  const tsIn = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  const source = route[R.SOURCE_TOKEN]!;
  if (source !== s[S.SOURCE]) {
    s[S.SOURCE] = source;
    s[S.SEQ_OFFSET] = seqDiff(seqAdd(s[S.SEQ]!, 1), seqIn);
    s[S.TS_OFFSET] = (tsAdd(s[S.TS]!, s[S.FRAME_SAMPLES]!) - tsIn) | 0;
    s[S.MARKER] = 1;
  }
  const seq = seqAdd(seqIn, s[S.SEQ_OFFSET]!);
  const ts = tsAdd(tsIn, s[S.TS_OFFSET]!);
  if (seqDiff(seq, s[S.SEQ]!) > 0) {
    s[S.SEQ] = seq;
    s[S.TS] = ts;
  }
  if (s[S.MARKER]) {
    buf[off + 1] = buf[off + 1]! | 0x80;
    s[S.MARKER] = 0;
  }
  buf[off + 2] = seq >>> 8;
  buf[off + 3] = seq & 0xff;
  buf[off + 4] = ts >>> 24;
  buf[off + 5] = (ts >>> 16) & 0xff;
  buf[off + 6] = (ts >>> 8) & 0xff;
  buf[off + 7] = ts & 0xff;
  const ssrc = s[S.SSRC]!;
  buf[off + 8] = ssrc >>> 24;
  buf[off + 9] = (ssrc >>> 16) & 0xff;
  buf[off + 10] = (ssrc >>> 8) & 0xff;
  buf[off + 11] = ssrc & 0xff;
  f[SF.LAST_SEND_MS] = now;
  s[S.PACKETS] = (s[S.PACKETS]! + 1) | 0;
  f[SF.OCTETS] = f[SF.OCTETS]! + len - 12;
  Atomics.store(s, S.LOCK, 0);
  addon.send(st.dst, buf, off, len, s[S.DST_PORT]!, s[S.DST_IP]! >>> 0);
}

/** The relay log: per record what JS accounts for (receive statistics, counters). */
function drainLog(): void {
  const n = arena.logCount[0]!;
  for (let i = 0; i < n; i++) {
    received++;
    octets += arena.logInts[i * LOG_INTS + L.PAYLOAD_BYTES]!;
  }
  arena.logCount[0] = 0;
}

let rx: Uint8Array;
const bySocket: Array<Stream | undefined> = [];
const arena: NativeUdpArena = addon.init((count) => {
  drainLog();
  const m = arena.meta;
  const mi = arena.metaInts;
  const now = performance.now();
  for (let i = 0; i < count; i++) {
    const o = i * mi;
    const len = m[o + 1]!;
    const off = i * arena.slotBytes;
    const st = bySocket[m[o]!];
    if (!st || m[o + 2] !== genPort || m[o + 4] !== LOOPBACK || len < 13) continue;
    received++;
    octets += len - 12;
    if ((rx[off + 1]! & 0x7f) !== st.route[R.PT_IN]) continue;
    rewrite(st, rx, off, len, now);
  }
});
rx = new Uint8Array(arena.rx);
const all: Stream[] = [];
for (let i = 0; i < streams; i++) {
  const src = addon.open(4);
  const srcPort = addon.bind(src, '127.0.0.1', 0);
  const dst = addon.open(4);
  addon.bind(dst, '127.0.0.1', 0);
  const sab = new SharedArrayBuffer(SENDER_BYTES);
  const s = new Int32Array(sab, 0, SENDER_INTS);
  const f = new Float64Array(sab, SENDER_FLOAT_OFFSET, SENDER_FLOATS);
  s.set([0, 1, addon.fd(dst), LOOPBACK, sinkPort, 0x11223344, 1, 1000, -1, 0, 0, 1, 8000, 160, 0, 0, 7]);
  f[SF.LAST_SEND_MS] = -1;
  const route = new Int32Array(ROUTE_INTS);
  route.set([mode === 'native' ? 1 : 0, LOOPBACK, genPort, 0, ssrcIn | 0, 99, 7, 0]);
  if (mode === 'native') addon.route(src, route, s);
  const st = { src, dst, srcPort, route, s, f };
  all.push(st);
  bySocket[src] = st;
}
const drain = setInterval(drainLog, 20);

parentPort!.on('message', (msg: string) => {
  if (msg === 'cpu') parentPort!.postMessage({ cpuMs: threadCpuMs(), received, stats: addon.stats() });
  if (msg === 'close') {
    clearInterval(drain);
    for (const st of all) {
      addon.close(st.src);
      addon.close(st.dst);
    }
    parentPort!.close();
  }
});
parentPort!.postMessage({ srcPorts: all.map((st) => st.srcPort), octets });
