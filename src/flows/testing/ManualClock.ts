/**
 * A simulated clock for flows (XState's Clock shape plus now()): time only moves when the test or
 * `flows test` advances it, timers fire in time order, and between timers pending promise
 * callbacks run so that actors settle exactly as they would in real time.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { FlowClock } from '../FlowEngines.ts';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class ManualClock implements FlowClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Time of the earliest pending timer, or null. */
  nextAt(): number | null {
    let best: Timer | null = null;
    for (const t of this.#timers.values())
      if (best === null || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best?.at ?? null;
  }

  /** Lets every pending promise callback run (a few macrotask turns). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await nextMacrotask();
  }

  /** Fires, in order, every timer due up to now + ms, settling after each; ends at now + ms. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + ms);
  }

  async advanceTo(t: number): Promise<void> {
    await this.settle();
    for (;;) {
      let due: Timer | null = null;
      for (const x of this.#timers.values()) {
        if (x.at <= t && (due === null || x.at < due.at || (x.at === due.at && x.id < due.id))) due = x;
      }
      if (due === null) break;
      this.#timers.delete(due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await this.settle();
    }
    this.#now = Math.max(this.#now, t);
  }
}
