import type { ServerEvent } from '../control/types.ts';

/**
 * The last `capacity` events of the cluster stream, for replay (`?since=`). Unlike the local
 * EventBus ring, seqs need not be dense: after a Redis restart the cluster seq jumps ahead (see
 * EventStreamWriter), so the ring keeps events in arrival order and finds `since` by binary search.
 */
export class EventRing {
  readonly #capacity: number;
  readonly #ring: (ServerEvent | undefined)[];
  /** Index of the oldest event in #ring; #size events follow it (circularly). */
  #start = 0;
  #size = 0;
  #lastSeq = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.#capacity = capacity;
    this.#ring = new Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Oldest seq still held (0 when empty). */
  get oldestSeq(): number {
    return this.#size === 0 ? 0 : (this.#at(0) as ServerEvent).seq;
  }

  /** Appends `event`; its seq must be above every seq already pushed (false, and ignored, if not). */
  push(event: ServerEvent): boolean {
    if (event.seq <= this.#lastSeq) return false;
    this.#lastSeq = event.seq;
    if (this.#size < this.#capacity) {
      this.#ring[(this.#start + this.#size) % this.#capacity] = event;
      this.#size++;
    } else {
      this.#ring[this.#start] = event;
      this.#start = (this.#start + 1) % this.#capacity;
    }
    return true;
  }

  /** Events with seq > `since`, oldest first. */
  since(since: number): ServerEvent[] {
    // first index whose seq > since
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#at(mid) as ServerEvent).seq > since) hi = mid;
      else lo = mid + 1;
    }
    const out: ServerEvent[] = [];
    for (let i = lo; i < this.#size; i++) out.push(this.#at(i) as ServerEvent);
    return out;
  }

  #at(i: number): ServerEvent | undefined {
    return this.#ring[(this.#start + i) % this.#capacity];
  }
}
