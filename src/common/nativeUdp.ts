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
  /** The relay offload (media/transport/udp/offloadLayout.ts). */
  fd(id: number): number;
  route(id: number, route: Int32Array | null, sender: Int32Array | null): void;
  hrtimeMs(): number;
  offloadLayout(): Record<string, unknown>;
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
  /** The relay offload's log: records of LOG_INTS int32, arrival times, and the count (JS resets it). */
  logInts: Int32Array;
  logTimes: Float64Array;
  logCount: Int32Array;
  metaInts: number;
  textBytes: number;
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
  queued: number;
  offloaded: number;
  offloadSendErrors: number;
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
