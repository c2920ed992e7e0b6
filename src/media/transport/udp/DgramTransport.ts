import dgram from 'node:dgram';
import type { UdpIo } from '../../../common/nativeUdp.ts';
import { literalLookup } from './literalLookup.ts';
import type { UdpMessageHandler, UdpTransport } from './UdpTransport.ts';

/** UdpTransport over node:dgram (the fallback, and UDP_IO=dgram). */
export class DgramTransport implements UdpTransport {
  readonly io: UdpIo = 'dgram';
  readonly #socket: dgram.Socket;
  #onMessage: UdpMessageHandler | null = null;
  #closed = false;

  constructor(family: 4 | 6) {
    // IPv4 literals are answered at once (literalLookup): the datagram leaves inside send().
    this.#socket =
      family === 4 ? dgram.createSocket({ type: 'udp4', lookup: literalLookup }) : dgram.createSocket('udp6');
    // A socket error (ICMP unreachable surfaces as one on some systems) must not kill the worker.
    this.#socket.on('error', () => {});
  }

  get onMessage(): UdpMessageHandler | null {
    return this.#onMessage;
  }

  /** The handler is the socket's listener itself: no extra call per datagram. */
  set onMessage(handler: UdpMessageHandler | null) {
    if (this.#onMessage !== null) this.#socket.off('message', this.#onMessage);
    this.#onMessage = handler;
    if (handler !== null) this.#socket.on('message', handler);
  }

  bind(address: string, port: number): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      // Pass bind() its callback: with literalLookup 'listening' fires inside the call.
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
  }

  send(data: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (this.#closed) return;
    // The whole buffer (a relayed datagram) goes without offset and length: no view made per send.
    if (offset === 0 && length === data.length) this.#socket.send(data, port, address);
    else this.#socket.send(data, offset, length, port, address);
  }

  sendAndClose(data: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (this.#closed) return;
    this.#closed = true;
    // dgram reads the bytes later: a copy, and the close waits for the send.
    try {
      this.#socket.send(data.slice(offset, offset + length), port, address, () => this.#close());
    } catch {
      this.#close();
    }
  }

  address(): { address: string; family: string; port: number } {
    return this.#socket.address();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#close();
  }

  #close(): void {
    try {
      this.#socket.close();
    } catch {
      /* never bound, or already closed */
    }
  }
}
