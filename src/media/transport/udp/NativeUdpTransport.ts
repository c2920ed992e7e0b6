import {
  ipv4Number,
  loadNativeUdp,
  type NativeUdpAddon,
  type NativeUdpArena,
  type UdpIo,
} from '../../../common/nativeUdp.ts';
import { L, LOG_INTS, SENDER_INTS } from './offloadLayout.ts';
import type { OffloadedHandler, UdpMessageHandler, UdpOffload, UdpRemote, UdpTransport } from './UdpTransport.ts';

/*
 * This thread's side of the addon: it delivers, in one call per loop iteration, every datagram
 * all the thread's sockets received (an arena of slots, lengths and source addresses), and this
 * module hands each to its socket's handler. Module state is per thread (each worker loads its own).
 */
let addon: NativeUdpAddon | null = null;
let arena: NativeUdpArena | null = null;
let textBytes: Buffer | null = null;
const sockets: Array<NativeUdpTransport | undefined> = [];
/** One remote object for every delivery: handlers read it during their call only. */
const remote: UdpRemote = { address: '', port: 0 };
/** Source address text by IPv4 address (direct-mapped): no string built per packet. */
const V4_CACHE = 256;
const v4Keys = new Int32Array(V4_CACHE);
const v4Text: string[] = new Array<string>(V4_CACHE).fill('');
const v6Key = new Int32Array(4);
let v6Text = '';

function rethrow(err: unknown): void {
  throw err;
}

function sourceText(slot: number): string {
  const a = arena!;
  const text = textBytes!;
  const start = slot * a.textBytes;
  let end = text.indexOf(0, start);
  if (end < 0 || end > start + a.textBytes) end = start + a.textBytes;
  return text.toString('latin1', start, end);
}

/** RELAY_THREADS: the native relay threads wanted for this thread's relaying sockets. */
let relayThreadsWanted = 0;
/** Whether relay threads ever served this thread (their records are then taken at every drain). */
let relayThreadsLog = false;

/** How often the relay offload's log is read when no batch comes to JavaScript (ms). */
const LOG_DRAIN_MS = 20;
let drainTimer: NodeJS.Timeout | null = null;

/**
 * Tells each socket about the datagrams the addon relayed itself since the last call (receive
 * statistics, media timeout): at the start of every batch, so they come before the socket's
 * later datagrams, and on a timer while everything is relayed natively.
 */
function drainLog(barrierId = -1): void {
  const a = arena!;
  // The relay threads' records first join the log (after what this thread relayed before them).
  let left = relayThreadsLog ? addon!.takeLog(barrierId) : 0;
  for (;;) {
    const n = a.logCount[0]!;
    if (n === 0) return;
    const ints = a.logInts;
    const times = a.logTimes;
    for (let i = 0; i < n; i++) {
      const r = i * LOG_INTS;
      const handler = sockets[ints[r + L.SOCKET]!]?.onOffloaded;
      if (handler == null) continue;
      try {
        handler(ints, times, i);
      } catch (err) {
        process.nextTick(rethrow, err);
      }
    }
    a.logCount[0] = 0;
    if (left === 0) return;
    left = addon!.takeLog(-1);
  }
}

function onBatch(count: number): void {
  drainLog();
  const a = arena!;
  const meta = a.meta;
  const mi = a.metaInts;
  const rx = a.rx;
  const slotBytes = a.slotBytes;
  for (let i = 0; i < count; i++) {
    const m = i * mi;
    const sock = sockets[meta[m]!];
    if (sock === undefined) continue; // closed during this batch
    const handler = sock.onMessage;
    if (handler === null) continue;
    remote.port = meta[m + 2]!;
    if (meta[m + 3] === 4) {
      const ip = meta[m + 4]!;
      const h = (ip ^ (ip >>> 8) ^ (ip >>> 16)) & (V4_CACHE - 1);
      if (v4Keys[h] !== ip || v4Text[h] === '') {
        v4Keys[h] = ip;
        v4Text[h] = sourceText(i);
      }
      remote.address = v4Text[h]!;
    } else {
      if (
        v6Key[0] !== meta[m + 4] ||
        v6Key[1] !== meta[m + 5] ||
        v6Key[2] !== meta[m + 6] ||
        v6Key[3] !== meta[m + 7] ||
        v6Text === ''
      ) {
        v6Key[0] = meta[m + 4]!;
        v6Key[1] = meta[m + 5]!;
        v6Key[2] = meta[m + 6]!;
        v6Key[3] = meta[m + 7]!;
        v6Text = sourceText(i);
      }
      remote.address = v6Text;
    }
    try {
      handler(Buffer.from(rx, i * slotBytes, meta[m + 1]!), remote);
    } catch (err) {
      // As a throwing 'message' listener of dgram would: uncaught, but the batch goes on.
      process.nextTick(rethrow, err);
    }
  }
}

function threadAddon(): NativeUdpAddon {
  if (addon !== null) return addon;
  const a = loadNativeUdp();
  if (a === null) throw new Error('native UDP addon is not built');
  arena = a.init(onBatch);
  textBytes = Buffer.from(arena.text.buffer, arena.text.byteOffset, arena.text.byteLength);
  addon = a;
  if (relayThreadsWanted > 0) useRelayThreads(a, relayThreadsWanted);
  return a;
}

function useRelayThreads(a: NativeUdpAddon, n: number): void {
  if (typeof a.relayThreads === 'function' && a.relayThreads(n) > 0) relayThreadsLog = true;
}

/** RELAY_THREADS for this thread's sockets (before or after the first one opens; 0: no more). */
export function setNativeRelayThreads(n: number): void {
  relayThreadsWanted = n;
  if (addon !== null) useRelayThreads(addon, n);
}

/** This thread's addon counters (tests, benchmarks), null when no native socket was opened here. */
export function nativeUdpStats(): ReturnType<NativeUdpAddon['stats']> | null {
  return addon === null ? null : addon.stats();
}

/** Reports the packets the addon relayed on this thread so far to their sockets now (metrics). */
export function drainNativeOffload(): void {
  if (arena !== null) drainLog();
}

/** Benchmarks: false sends each datagram at once (sendto) instead of batching per loop turn. */
export function setNativeUdpBatching(on: boolean): void {
  threadAddon().setBatching(on);
}

/**
 * UdpTransport over the batched addon. send() copies the datagram into the thread's queue, which
 * goes out with sendmmsg at the end of the current receive batch or loop phase (before the loop
 * waits): the caller may reuse its buffer at once. Sockets are dual-stack for family 6, as dgram's.
 */
export class NativeUdpTransport implements UdpTransport, UdpOffload {
  readonly io: UdpIo = 'native';
  onMessage: UdpMessageHandler | null = null;
  onOffloaded: OffloadedHandler | null = null;
  #fd = -1;
  readonly #addon: NativeUdpAddon;
  readonly #id: number;
  #closed = false;
  /** The last destination and its numeric form: one string comparison per send. */
  #lastAddress = '';
  #lastNumber = -1;

  constructor(family: 4 | 6) {
    this.#addon = threadAddon();
    this.#id = this.#addon.open(family);
    sockets[this.#id] = this;
  }

  bind(address: string, port: number): Promise<void> {
    try {
      this.#addon.bind(this.#id, address, port);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  send(data: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (this.#closed) return;
    if (address !== this.#lastAddress) {
      this.#lastNumber = ipv4Number(address);
      this.#lastAddress = address;
    }
    try {
      this.#addon.send(this.#id, data, offset, length, port, this.#lastNumber >= 0 ? this.#lastNumber : address);
    } catch {
      // A destination this socket cannot reach (an IPv6 peer of an IPv4 socket): the datagram is lost.
    }
  }

  sendAndClose(data: Uint8Array, offset: number, length: number, port: number, address: string): void {
    this.send(data, offset, length, port, address);
    this.close(); // the queue is flushed before the socket closes
  }

  /** The relay offload; absent with a build of the addon that predates it. */
  get offload(): UdpOffload | undefined {
    return typeof this.#addon.route === 'function' ? this : undefined;
  }

  get fd(): number {
    if (this.#fd < 0 && !this.#closed) this.#fd = this.#addon.fd(this.#id);
    return this.#fd;
  }

  own(sender: SharedArrayBuffer): void {
    if (!this.#closed) this.#addon.own(this.#id, new Int32Array(sender, 0, SENDER_INTS));
  }

  attach(route: Int32Array, sender: SharedArrayBuffer): void {
    if (this.#closed) return;
    this.#addon.route(this.#id, route, new Int32Array(sender, 0, SENDER_INTS));
    if (drainTimer === null) {
      drainTimer = setInterval(drainLog, LOG_DRAIN_MS, -1);
      drainTimer.unref();
    }
  }

  drain(): void {
    // A barrier too: this socket's route, disarmed before the call, relays nothing after it.
    if (arena !== null) drainLog(this.#id);
  }

  detach(): void {
    if (!this.#closed) this.#addon.route(this.#id, null, null);
  }

  address(): { address: string; family: string; port: number } {
    return this.#addon.address(this.#id);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Off the relay thread first, then what the addon relayed for it is accounted for.
    this.#addon.close(this.#id);
    if (arena !== null) drainLog();
    this.onMessage = null;
    this.onOffloaded = null;
    sockets[this.#id] = undefined;
  }
}
