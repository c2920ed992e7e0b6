import { createHash } from 'node:crypto';

/**
 * Which worker owns a new endpoint. With an affinity key (a call id, a conference name) every
 * endpoint of that key lands on the same worker, so bridges and mixes stay local; without one,
 * the least-loaded worker (of those running, when `alive` says which are).
 */
export function placeEndpoint(
  affinity: string | null | undefined,
  loads: readonly number[],
  alive?: readonly boolean[],
): number {
  if (loads.length === 0) throw new Error('no media workers');
  if (affinity) {
    const h = createHash('sha1').update(affinity).digest();
    return h.readUInt32BE(0) % loads.length;
  }
  let best = -1;
  for (let i = 0; i < loads.length; i++) {
    if (alive?.[i] === false) continue;
    if (best < 0 || loads[i]! < loads[best]!) best = i;
  }
  return best < 0 ? 0 : best;
}

/** How long a leg created without an affinity key waits for its partner (ms). */
const PARTNER_WINDOW_MS = 30_000;
/** Legs waiting at most (legs never bridged, IVR-only calls, age out or are pushed out). */
const MAX_WAITING = 4096;

interface WaitingLeg {
  id: string;
  worker: number;
  /** Created without the peer's SDP (we offer) rather than answering the peer's offer. */
  offers: boolean;
  at: number;
}

/**
 * Placement of endpoints created without an affinity key, so that the two legs of a call land
 * on one worker and their bridge relays locally. A B2BUA creates the caller's leg with the
 * caller's offer (we answer), then the callee's leg without SDP (we offer), then bridges them;
 * least-loaded placement put every such pair on two workers. So: a new unaffinitied leg joins
 * the most recent waiting unaffinitied leg of the other SDP role (an answering leg pairs with
 * an offering one); with none waiting it goes to the least-loaded worker and waits for its own
 * partner. Most recent first, not oldest first: legs that are never bridged (IVR-only calls)
 * then stay at the bottom and never shift the pairing of the calls after them; the cost is
 * that two calls whose set-ups interleave (A1 A2 B1 B2) may cross. A leg stops waiting when
 * claimed, bridged, deleted, or after PARTNER_WINDOW_MS. Two legs of one role (both created
 * with the peer's offer) are not paired: nothing tells which waiting leg is the partner.
 * Moving a leg at bridge time is no alternative: a UDP socket cannot move between threads, and
 * re-binding its port on another worker loses packets and the leg's RTP/RTCP state.
 */
export class Placement {
  readonly #waiting: WaitingLeg[] = [];
  readonly #windowMs: number;

  constructor(options: { partnerWindowMs?: number } = {}) {
    this.#windowMs = options.partnerWindowMs ?? PARTNER_WINDOW_MS;
  }

  /**
   * The worker for endpoint `id`. `offers`: created without the peer's SDP. `alive[i]` false:
   * a worker being replaced, never chosen for a partner.
   */
  place(
    id: string,
    affinity: string | null | undefined,
    offers: boolean,
    loads: readonly number[],
    nowMs: number,
    alive?: readonly boolean[],
  ): number {
    if (affinity) return placeEndpoint(affinity, loads);
    this.#expire(nowMs);
    const waiting = this.#waiting;
    for (let i = waiting.length - 1; i >= 0; i--) {
      const leg = waiting[i]!;
      if (leg.offers === offers || leg.worker >= loads.length || alive?.[leg.worker] === false) continue;
      waiting.splice(i, 1);
      return leg.worker;
    }
    const worker = placeEndpoint(null, loads, alive);
    if (waiting.length >= MAX_WAITING) waiting.shift();
    waiting.push({ id, worker, offers, at: nowMs });
    return worker;
  }

  /** `id` needs no partner any more: bridged, deleted, never created. */
  settled(id: string): void {
    const waiting = this.#waiting;
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i]!.id === id) {
        waiting.splice(i, 1);
        return;
      }
    }
  }

  /** Legs waiting for a partner (tests, metrics). */
  get waiting(): number {
    return this.#waiting.length;
  }

  #expire(nowMs: number): void {
    const waiting = this.#waiting;
    let n = 0;
    while (n < waiting.length && nowMs - waiting[n]!.at > this.#windowMs) n++;
    if (n > 0) waiting.splice(0, n);
  }
}
