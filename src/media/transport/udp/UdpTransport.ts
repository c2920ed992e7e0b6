import { loadNativeUdp, resolveUdpIo, type UdpIo } from '../../../common/nativeUdp.ts';
import { DgramTransport } from './DgramTransport.ts';
import { NativeUdpTransport } from './NativeUdpTransport.ts';

/** The source of a received datagram. Valid during the handler's call only (it may be reused). */
export interface UdpRemote {
  address: string;
  port: number;
}

/** A received datagram: `msg` is the handler's for this call only (copy what must outlive it). */
export type UdpMessageHandler = (msg: Buffer, remote: UdpRemote) => void;

/**
 * A datagram the addon relayed itself (the relay offload), reported afterwards for the receive
 * side's bookkeeping: record `index` of the thread's log (`ints` holds LOG_INTS words a record:
 * L.SEQ, L.TS, L.SSRC as int32, L.PAYLOAD_BYTES; `times` the arrival, monotonic ms of
 * `process.hrtime`, see HR_OFFSET_MS). The handler reads the fields itself: passing them as
 * arguments would box the 32-bit ones and the time, garbage for every relayed packet.
 */
export type OffloadedHandler = (ints: Int32Array, times: Float64Array, index: number) => void;

/**
 * The relay offload of a native socket (udp/offloadLayout.ts): datagrams matching the armed
 * route are rewritten into the `sender` block's stream and sent on its socket without a
 * JavaScript call; `onOffloaded` hears of each afterwards, in order with `onMessage`.
 */
export interface UdpOffload {
  /** The socket's descriptor, for a sender block that others relay into. */
  readonly fd: number;
  /** This socket sends `sender`'s stream: its closing takes the block's FD away first. */
  own(sender: SharedArrayBuffer): void;
  /** Attaches a route (Int32Array of ROUTE_INTS) and the destination's sender block. */
  attach(route: Int32Array, sender: SharedArrayBuffer): void;
  detach(): void;
  /**
   * Reports what the addon relayed so far (this thread's sockets, in order) to onOffloaded now;
   * a route disarmed before the call relays nothing after it (the relay thread waits out).
   */
  drain(): void;
  onOffloaded: OffloadedHandler | null;
}

/**
 * The UDP socket of an RTP or RTCP port, as RtpEndpoint uses it: everything above it (latching,
 * statistics, bridging, RTCP) is the same whichever implementation carries the datagrams.
 * - DgramTransport: node:dgram, one system call and one JS callback per datagram;
 * - NativeUdpTransport: the batched addon (recvmmsg/sendmmsg, one JS call per batch).
 * Errors of individual sends are not reported: a datagram that cannot leave is a datagram lost.
 */
export interface UdpTransport {
  readonly io: UdpIo;
  /** Receives every datagram (set once; null stops delivery). */
  onMessage: UdpMessageHandler | null;
  /** Binds exclusively; rejects with Node's bind error (`code` EADDRINUSE, EACCES...). */
  bind(address: string, port: number): Promise<void>;
  /**
   * Sends `data[offset, offset + length)` to an IP literal. The bytes are taken before it returns
   * or left untouched by the caller until the next tick (dgram): callers may reuse the buffer then.
   */
  send(data: Uint8Array, offset: number, length: number, port: number, address: string): void;
  /** Sends a last datagram (RTCP BYE), then closes once it has left. */
  sendAndClose(data: Uint8Array, offset: number, length: number, port: number, address: string): void;
  address(): { address: string; family: string; port: number };
  /** Idempotent. */
  close(): void;
  /** The relay offload, where the implementation has one (the native addon). */
  readonly offload?: UdpOffload;
}

export type UdpTransportFactory = (family: 4 | 6) => UdpTransport;

/** The factory of the resolved UDP_IO (see common/nativeUdp.ts resolveUdpIo). */
export function udpTransportFactory(io: UdpIo): UdpTransportFactory {
  if (io === 'native' && loadNativeUdp() !== null) return (family) => new NativeUdpTransport(family);
  return (family) => new DgramTransport(family);
}

let defaultFactory: UdpTransportFactory | null = null;

/**
 * The factory where nobody passed one (tests, tools, a worker started without the setting):
 * UDP_IO from the environment, 'auto' when unset, so the test suite runs the native path
 * wherever the addon is built. The server passes the resolved setting explicitly.
 */
export function defaultUdpTransportFactory(): UdpTransportFactory {
  if (defaultFactory === null) {
    const env = process.env.UDP_IO;
    const setting = env === 'native' || env === 'dgram' ? env : 'auto';
    defaultFactory = udpTransportFactory(resolveUdpIo(setting).io);
  }
  return defaultFactory;
}
