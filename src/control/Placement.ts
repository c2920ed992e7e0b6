import { createHash } from 'node:crypto';

/**
 * Which worker owns a new endpoint. With an affinity key (a call id, a conference name) every
 * endpoint of that key lands on the same worker, so bridges and mixes stay local; without one,
 * the least-loaded worker.
 */
export function placeEndpoint(affinity: string | null | undefined, loads: readonly number[]): number {
  if (loads.length === 0) throw new Error('no media workers');
  if (affinity) {
    const h = createHash('sha1').update(affinity).digest();
    return h.readUInt32BE(0) % loads.length;
  }
  let best = 0;
  for (let i = 1; i < loads.length; i++) if (loads[i]! < loads[best]!) best = i;
  return best;
}
