import dgram from 'node:dgram';
import os from 'node:os';
import { ValidationError } from '../common/errors.ts';

/** What the media sockets bind to and what our SDP announces (c=). */
export interface LocalAddressConfig {
  rtpBindIp: string;
  /** PUBLIC_IP: the address peers send to (1:1 NAT), announced as it is; null when not set. */
  publicIp: string | null;
}

const UNSPECIFIED = '0.0.0.0';

export function isUnspecified(ip: string): boolean {
  return ip === UNSPECIFIED || ip === '::';
}

/** The first non-internal IPv4 address of this host, or null (only loopback, or no network). */
export function firstExternalIpv4(interfaces = os.networkInterfaces()): string | null {
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal && !isUnspecified(a.address)) return a.address;
    }
  }
  return null;
}

/**
 * The address written into our SDP. Never the unspecified 0.0.0.0 (a peer would send its media
 * nowhere): PUBLIC_IP when set; else the bind address; else, bound to the wildcard, the address of
 * the interface the kernel routes to the peer through (a UDP connect picks it, no packet is sent),
 * and for an offer (no peer yet) the host's first non-loopback address.
 */
export class LocalAddress {
  readonly #config: LocalAddressConfig;
  readonly #fallback: string;
  /** peer → local source address; routes rarely change, peers repeat (one per trunk). */
  readonly #routes = new Map<string, string>();

  private constructor(config: LocalAddressConfig, fallback: string) {
    this.#config = config;
    this.#fallback = fallback;
  }

  /**
   * Checks at start-up that media can be bound and announced: RTP_BIND_IP must be an address of
   * this host (behind 1:1 NAT, bind the wildcard and set PUBLIC_IP), and a wildcard bind with no
   * PUBLIC_IP needs a non-loopback interface to announce.
   */
  static async resolve(config: LocalAddressConfig, interfaces = os.networkInterfaces()): Promise<LocalAddress> {
    await assertBindable(config.rtpBindIp);
    if (config.publicIp) return new LocalAddress(config, config.publicIp);
    if (!isUnspecified(config.rtpBindIp)) return new LocalAddress(config, config.rtpBindIp);
    const external = firstExternalIpv4(interfaces);
    if (!external) {
      throw new ValidationError(
        'INVALID_CONFIG',
        `RTP_BIND_IP=${config.rtpBindIp} is a wildcard, PUBLIC_IP is not set and this host has no non-loopback IPv4 address to announce in SDP; set PUBLIC_IP to the address peers send RTP to`,
      );
    }
    return new LocalAddress(config, external);
  }

  /** The address announced when no peer is known (offers), and in `GET /endpoints`. */
  get default(): string {
    return this.#fallback;
  }

  /** Whether the announced address is found per peer (wildcard bind without PUBLIC_IP). */
  get perPeer(): boolean {
    return !this.#config.publicIp && isUnspecified(this.#config.rtpBindIp);
  }

  /** The address to announce to a peer at `peerIp` (from its SDP's c= line). */
  async forPeer(peerIp: string | null): Promise<string> {
    if (!this.perPeer || !peerIp || isUnspecified(peerIp) || !isIpv4(peerIp)) return this.#fallback;
    const known = this.#routes.get(peerIp);
    if (known) return known;
    const local = await routeSource(peerIp).catch(() => this.#fallback);
    if (this.#routes.size >= 1024) this.#routes.clear();
    this.#routes.set(peerIp, local);
    return local;
  }
}

function isIpv4(ip: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip);
}

/** The source address the kernel would use towards `peerIp`: connect a UDP socket, read it back. */
function routeSource(peerIp: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.connect(9, peerIp, () => {
      const { address } = socket.address();
      socket.close();
      if (isUnspecified(address)) reject(new Error('no route'));
      else resolve(address);
    });
  });
}

/** Binds and closes a UDP socket on `ip` (any port) so a wrong RTP_BIND_IP fails at start-up. */
function assertBindable(ip: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      const hint =
        err.code === 'EADDRNOTAVAIL'
          ? ' (not an address of this host; behind 1:1 NAT bind RTP_BIND_IP=0.0.0.0 and announce PUBLIC_IP)'
          : '';
      reject(
        new ValidationError(
          'INVALID_CONFIG',
          `cannot bind RTP sockets to RTP_BIND_IP=${ip}: ${err.code ?? err.message}${hint}`,
        ),
      );
    });
    socket.bind(0, ip, () => {
      socket.close();
      resolve();
    });
  });
}
