import { CapacityError } from '../common/errors.ts';

/**
 * RTP/RTCP port pairs from a configured range: RTP on an even port, RTCP on the next odd one
 * (RFC 3550 11). Released pairs go to the back of the queue so a just-closed port is not reused
 * at once (late packets of the old call would land in the new one).
 */
export class PortPool {
  readonly #free: number[] = [];
  readonly #used = new Set<number>();

  constructor(start: number, end: number) {
    const first = start % 2 === 0 ? start : start + 1;
    for (let p = first; p + 1 <= end; p += 2) this.#free.push(p);
  }

  get capacity(): number {
    return this.#free.length + this.#used.size;
  }

  get available(): number {
    return this.#free.length;
  }

  /** Takes a pair; throws CapacityError('NO_PORTS_AVAILABLE') when the range is exhausted. */
  acquire(): { rtpPort: number; rtcpPort: number } {
    const rtpPort = this.#free.shift();
    if (rtpPort === undefined) {
      throw new CapacityError('NO_PORTS_AVAILABLE', `all ${this.capacity} RTP port pairs are in use`);
    }
    this.#used.add(rtpPort);
    return { rtpPort, rtcpPort: rtpPort + 1 };
  }

  /** Whether `port` is the RTP or the RTCP port of a pair in use. */
  holds(port: number): boolean {
    return this.#used.has(port) || (port % 2 === 1 && this.#used.has(port - 1));
  }

  release(rtpPort: number): void {
    if (this.#used.delete(rtpPort)) this.#free.push(rtpPort);
  }
}
