import { Doorbell } from '../../common/Doorbell.ts';
import { InvalidStateError } from '../../common/errors.ts';
import { SpscRing } from '../../common/SpscRing.ts';

/** Where a packet from another worker goes: the local leg of a cross-worker bridge. */
export interface RingSink {
  sendRelayed(buf: Uint8Array, length: number, source: number, seq: number, ts: number, nowMs: number): boolean;
}

/**
 * Packets one drain may hand to the sockets. dgram.send() reads its buffer on the next tick,
 * so each packet of a drain gets its own copy buffer, and a full drain yields to the event loop
 * (setImmediate) before the buffers come round again.
 */
const DRAIN_BUDGET = 64;

/**
 * The consuming end of a worker's cross-worker bridges: every ring whose producer rings this
 * worker's doorbell. Drains round-robin until all rings are empty, then sleeps on the doorbell
 * (`Atomics.waitAsync`); a busy worker takes many packets, from many bridges, per wake-up.
 */
export class RingInbox {
  readonly bell: Doorbell;
  readonly #rings: SpscRing[] = [];
  readonly #sinks: RingSink[] = [];
  readonly #words: Uint32Array[] = [];
  readonly #bytes: Uint8Array[] = [];
  readonly #payloadLimit: number;
  #slot = 0;
  #next = 0;
  #sleeping = false;
  #scheduled = false;
  #closed = false;
  /** Wake-ups and drained packets (the batching a metrics reader can see). */
  wakeups = 0;
  packets = 0;
  readonly #onWake = (): void => {
    this.#sleeping = false;
    this.wakeups++;
    this.#drain();
  };
  readonly #onImmediate = (): void => {
    this.#scheduled = false;
    this.#drain();
  };

  /** `payloadLimit`: the largest record any added ring may hold (its `maxPayload`). */
  constructor(bell: SharedArrayBuffer, payloadLimit: number) {
    this.bell = new Doorbell(bell);
    this.#payloadLimit = payloadLimit;
    const words = (payloadLimit + 3) >>> 2;
    for (let i = 0; i < DRAIN_BUDGET; i++) {
      const w = new Uint32Array(words);
      this.#words.push(w);
      this.#bytes.push(new Uint8Array(w.buffer));
    }
  }

  get size(): number {
    return this.#rings.length;
  }

  /** Starts delivering `ring`'s packets to `sink`. */
  add(ring: SpscRing, sink: RingSink): void {
    if (this.#closed) throw new InvalidStateError('INBOX_CLOSED', 'the worker is closing: no new cross-worker bridge');
    if (ring.maxPayload > this.#payloadLimit)
      throw new RangeError(`ring records up to ${ring.maxPayload} bytes exceed the inbox's ${this.#payloadLimit}`);
    this.#rings.push(ring);
    this.#sinks.push(sink);
    // A sleeping inbox wakes on this ring's first packet (same doorbell); else drain soon.
    if (!this.#sleeping) this.#schedule();
  }

  /** Stops delivering `ring` (packets still in it are dropped with it). */
  remove(ring: SpscRing): void {
    const i = this.#rings.indexOf(ring);
    if (i < 0) return;
    this.#rings.splice(i, 1);
    this.#sinks.splice(i, 1);
    if (this.#next > i) this.#next--;
  }

  /** Stops draining; a pending wait is released. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rings.length = 0;
    this.#sinks.length = 0;
    if (this.#sleeping) this.bell.wake();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onImmediate);
  }

  #drain(): void {
    if (this.#closed) return;
    const rings = this.#rings;
    const sinks = this.#sinks;
    const n = rings.length;
    const nowMs = performance.now();
    let budget = DRAIN_BUDGET;
    let empty = 0;
    let i = this.#next;
    // Round-robin, one packet per ring per turn, until every ring was empty in one full turn.
    while (budget > 0 && empty < n) {
      if (i >= n) i = 0;
      const ring = rings[i]!;
      const slot = this.#slot;
      const length = ring.read(this.#words[slot]!);
      if (length < 0) {
        empty++;
      } else {
        empty = 0;
        budget--;
        this.#slot = slot + 1 === DRAIN_BUDGET ? 0 : slot + 1;
        sinks[i]!.sendRelayed(this.#bytes[slot]!, length, ring.source, ring.seq, ring.ts, nowMs);
      }
      i++;
    }
    this.#next = i;
    this.packets += DRAIN_BUDGET - budget;
    if (budget === 0) {
      this.#schedule();
      return;
    }
    this.#sleep();
  }

  #sleep(): void {
    if (this.#closed || this.#sleeping || this.#scheduled) return;
    const bell = this.bell;
    const seq = bell.prepare();
    const rings = this.#rings;
    for (let i = 0; i < rings.length; i++) {
      if (rings[i]!.readable) {
        bell.cancel();
        this.#schedule();
        return;
      }
    }
    const woken = bell.wait(seq);
    if (woken === null) {
      this.#schedule();
      return;
    }
    this.#sleeping = true;
    void woken.then(this.#onWake);
  }
}
