import os from 'node:os';
import { ValidationError } from '../common/errors.ts';
import type { Config } from '../config/config.ts';
import type { RemoteTransport } from './sdp/types.ts';

/**
 * Refuses a media destination that is this server itself: one of its addresses (loopback, the
 * configured and interface addresses) at a port it listens on (the API, gRPC, metrics, or an RTP/RTCP port
 * of one of its own endpoints). Media sent there would hit the HTTP parser, or loop between two
 * of our legs at full speed. Other ports of our addresses (another program on this host, a test
 * peer) stay allowed.
 */
export class OwnDestinations {
  readonly #addresses = new Set<string>();
  readonly #ports = new Set<number>();
  readonly #holdsPort: (port: number) => boolean;

  /** `holdsPort`: whether one of our endpoints has this port bound now. */
  constructor(config: Config, holdsPort: (port: number) => boolean) {
    this.#holdsPort = holdsPort;
    for (const ip of [config.rtpBindIp, config.publicIp, config.apiHost, config.metricsHost])
      if (ip) this.#addresses.add(ip);
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) if (a.family === 'IPv4') this.#addresses.add(a.address);
    }
    this.addListeningPort(config.apiPort);
    if (config.grpcPort !== null) this.addListeningPort(config.grpcPort);
    if (config.metricsPort !== null) this.addListeningPort(config.metricsPort);
  }

  /** A port bound after the configuration was read (API_PORT=0, GRPC_PORT=0). */
  addListeningPort(port: number): void {
    if (port > 0) this.#ports.add(port);
  }

  #isOwnAddress(ip: string): boolean {
    return ip.startsWith('127.') || this.#addresses.has(ip);
  }

  #isOwnPort(port: number): boolean {
    return this.#ports.has(port) || this.#holdsPort(port);
  }

  /** Throws ValidationError('INVALID_SDP') when `remote` points at this server's own listeners. */
  check(remote: RemoteTransport | null): void {
    if (remote === null || !this.#isOwnAddress(remote.ip)) return;
    for (const [what, port] of [
      ['RTP', remote.rtpPort],
      ['RTCP', remote.rtcpPort],
    ] as const) {
      if (this.#isOwnPort(port)) {
        throw new ValidationError(
          'INVALID_SDP',
          `the ${what} destination ${remote.ip}:${port} is this media server's own listening port`,
        );
      }
    }
  }
}
