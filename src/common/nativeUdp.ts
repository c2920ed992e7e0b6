import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ValidationError } from './errors.ts';

/**
 * The batched-UDP addon (native/udp_batch.c), as its functions are called. One state per thread:
 * `init()` once per thread hands over the receive arena that every batch is delivered in.
 */
export interface NativeUdpAddon {
  init(onBatch: (count: number) => void): NativeUdpArena;
  open(family: 4 | 6): number;
  bind(id: number, address: string, port: number): number;
  address(id: number): { address: string; family: 'IPv4' | 'IPv6'; port: number };
  send(id: number, data: Uint8Array, offset: number, length: number, port: number, address: string | number): void;
  flush(): void;
  close(id: number): void;
  setBatching(on: boolean): void;
  stats(): NativeUdpStats;
  /** The socket's file descriptor (what a SENDER block's FD holds for the addon to send on). */
  fd(id: number): number;
  /** The process-wide monotonic clock in ms (uv_hrtime / 1e6): the relay offload's times. */
  hrtimeMs(): number;
  /** The relay offload layout the addon was built with (a test compares it to offloadLayout.ts). */
  offloadLayout(): NativeOffloadLayout;
  /**
   * Attaches socket `id`'s relay route (Int32Array of ROUTE_INTS, written by this thread only) and
   * the destination's SENDER block (Int32Array of SENDER_INTS at byte 0 of a SharedArrayBuffer of
   * SENDER_BYTES), or detaches them (both null). Throws RangeError when an array is too short.
   * The addon keeps raw pointers while attached: never transfer (detach) the route's buffer.
   */
  route(id: number, route: Int32Array | null, sender: Int32Array | null): void;
  /**
   * Socket `id` sends `sender`'s stream (null: none): closing the socket clears the block's FD
   * and RELAY_OK under its lock first, even when the thread dies without JavaScript doing it.
   */
  own(id: number, sender: Int32Array | null): void;
  /**
   * n > 0: this thread's sockets that relay are read by the process' native relay threads (no
   * JavaScript, no garbage collection in their way), started by the first such call (n of them,
   * at most 16; later calls share them). 0: no more go there. Returns how many serve this thread.
   */
  relayThreads(n: number): number;
  /**
   * Appends what the relay threads relayed for this thread's sockets to the log (logCount grows),
   * as much as fits; returns how many records are left for the next call. `barrierId` >= 0: first
   * waits until no relay thread reads that socket, so that its route, disarmed before the call,
   * relays nothing after it (-1: no wait).
   */
  takeLog(barrierId: number): number;
}

/** The numbers of src/media/transport/udp/offloadLayout.ts, as the addon has them. */
export interface NativeOffloadLayout {
  S: Record<string, number>;
  SF: Record<string, number>;
  R: Record<string, number>;
  L: Record<string, number>;
  SENDER_BYTES: number;
  SENDER_INTS: number;
  SENDER_FLOAT_OFFSET: number;
  SENDER_FLOATS: number;
  ROUTE_INTS: number;
  LOG_INTS: number;
  LOG_RECORDS: number;
}

/** Where a batch lies: packet i is `rx[i * slotBytes, + meta[i * metaInts + 1])`. */
export interface NativeUdpArena {
  rx: ArrayBuffer;
  /** Per packet: socket id, length, source port, family (4/6), source address (4 int32). */
  meta: Int32Array;
  /** Per packet: the source address as text (NUL-terminated), read only on a cache miss. */
  text: Uint8Array;
  slots: number;
  slotBytes: number;
  metaInts: number;
  textBytes: number;
  /** Relayed packets (offload): LOG_RECORDS records of LOG_INTS int32 (socket, seq, ts, ssrc, payload bytes). */
  logInts: Int32Array;
  /** Per record: the arrival time, monotonic ms (hrtimeMs()). */
  logTimes: Float64Array;
  /** [0]: records written. JS drains them (before the arena in onBatch) and writes 0. */
  logCount: Int32Array;
}

/** Counters of this thread's addon state: how well the system calls were batched. */
export interface NativeUdpStats {
  recvCalls: number;
  recvPackets: number;
  recvTruncated: number;
  recvErrors: number;
  deliveries: number;
  sendCalls: number;
  sendPackets: number;
  sendErrors: number;
  sendImmediate: number;
  /** Received datagrams relayed by the addon (also counted in recvPackets, never delivered). */
  offloaded: number;
  /** sendmmsg calls for them (one per receive call that relayed something, barring errors). */
  offloadSendCalls: number;
  /** Relayed datagrams whose sendto failed (counted as sent in the SENDER block, as JS does). */
  offloadSendErrors: number;
  /** Datagrams given to JS because the SENDER lock stayed held (another thread in it). */
  offloadLockBusy: number;
  /** Of `offloaded`, what the relay threads relayed (RELAY_THREADS). */
  threadOffloaded: number;
  /** Sockets handed to the relay threads, and sent back to their worker (a datagram for JavaScript). */
  threadHandoffs: number;
  threadReturns: number;
  queued: number;
}

export type UdpIoSetting = 'auto' | 'native' | 'dgram';
export type UdpIo = 'native' | 'dgram';

// src/common/ and dist/common/ are both one level below the package root.
const ADDON_PATH = fileURLToPath(new URL('../../build/Release/udp_batch.node', import.meta.url));

let loaded: NativeUdpAddon | null | undefined;
let loadError = '';

/** The addon of this thread, or null when it was not built (or does not load here). */
export function loadNativeUdp(): NativeUdpAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (!existsSync(ADDON_PATH)) {
    loadError = 'not built (no compiler at install, or the build failed: see build/native-build.log)';
    return null;
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeUdpAddon;
  } catch (err) {
    loadError = `does not load: ${err instanceof Error ? err.message : String(err)}`;
  }
  return loaded;
}

/**
 * What UDP_IO means on this installation: 'auto' is native when the addon loads. 'native' that
 * cannot be honoured is a configuration error (the operator asked for it explicitly).
 */
export function resolveUdpIo(setting: UdpIoSetting): { io: UdpIo; detail: string } {
  if (setting === 'dgram') return { io: 'dgram', detail: 'node:dgram (UDP_IO=dgram)' };
  if (loadNativeUdp() !== null) return { io: 'native', detail: 'native addon (recvmmsg/sendmmsg batches)' };
  if (setting === 'native') throw new ValidationError('UDP_IO_UNAVAILABLE', `UDP_IO=native: the addon ${loadError}`);
  return { io: 'dgram', detail: `node:dgram (native addon ${loadError})` };
}

/** An IPv4 literal as a number (host order), -1 for anything else. */
export function ipv4Number(address: string): number {
  if (!isIPv4(address)) return -1;
  let n = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return n * 256 + part;
}
