/**
 * Wakes a consumer thread that sleeps on `Atomics.waitAsync` when a producer thread publishes
 * data (a cross-worker bridge's rings). A producer pays one atomic load per packet while the
 * consumer is awake; only a sleeping consumer is notified (one wake for any number of packets
 * and rings), so a busy worker drains in batches and is never woken per packet.
 *
 * Cells (Int32): [0] sequence, bumped by every notification; [1] 1 while the consumer sleeps or
 * is about to; [2] the bell's id (a SharedArrayBuffer sent to a thread arrives as a new object
 * each time, so a thread recognises a bell it already waits on by this id, not by identity).
 * One consumer per bell: `notify` wakes one waiter. Consumer protocol (no lost wake-up): `seq = prepare()`, check every ring, then
 * `wait(seq)` if all were empty (or `cancel()` if not). A producer that published after that
 * check sees the flag, bumps the sequence and notifies; a `wait` called after the bump returns
 * at once.
 */
let nextId = 1;

export class Doorbell {
  static create(): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(12);
    new Int32Array(buffer)[2] = nextId++;
    return buffer;
  }

  readonly buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength !== 12) throw new RangeError('not a doorbell buffer (use Doorbell.create)');
    this.buffer = buffer;
    this.#cells = new Int32Array(buffer, 0, 3);
  }

  /** Unique per Doorbell.create() in one process. */
  static idOf(buffer: SharedArrayBuffer): number {
    return new Int32Array(buffer, 8, 1)[0]!;
  }

  /** Producer, after publishing: wakes the consumer if it sleeps. */
  ring(): void {
    const cells = this.#cells;
    if (Atomics.load(cells, 1) !== 0 && Atomics.compareExchange(cells, 1, 1, 0) === 1) {
      Atomics.add(cells, 0, 1);
      Atomics.notify(cells, 0, 1);
    }
  }

  /** Consumer: announces it is about to sleep; returns the sequence to wait on. */
  prepare(): number {
    const seq = Atomics.load(this.#cells, 0);
    Atomics.store(this.#cells, 1, 1);
    return seq;
  }

  /** Consumer: found data after prepare(), so it stays awake. */
  cancel(): void {
    Atomics.store(this.#cells, 1, 0);
  }

  /** Consumer: a promise settled by the next ring(), or null when it already rang. */
  wait(seq: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.#cells, 0, seq);
    if (!r.async) {
      Atomics.store(this.#cells, 1, 0);
      return null;
    }
    return r.value;
  }

  /** Wakes a waiting consumer from any thread (closing). */
  wake(): void {
    Atomics.store(this.#cells, 1, 0);
    Atomics.add(this.#cells, 0, 1);
    Atomics.notify(this.#cells, 0);
  }
}
