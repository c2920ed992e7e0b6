import type { MemberRecord } from './ClusterKeys.ts';

/**
 * The member a new call goes to: ready (draining members take none), with a port pair free,
 * least loaded; on a tie the one with fewer endpoints, then this instance itself (no forwarding
 * hop), then the lowest id, so every instance picks alike. Null when none qualifies.
 */
export function leastLoaded(members: readonly MemberRecord[], selfId: string): MemberRecord | null {
  let best: MemberRecord | null = null;
  for (const m of members) {
    if (m.state !== 'ready' || m.free_ports < 2) continue;
    if (best === null || better(m, best, selfId)) best = m;
  }
  return best;
}

function better(a: MemberRecord, b: MemberRecord, selfId: string): boolean {
  if (a.load !== b.load) return a.load < b.load;
  if (a.endpoints !== b.endpoints) return a.endpoints < b.endpoints;
  if ((a.id === selfId) !== (b.id === selfId)) return a.id === selfId;
  return a.id < b.id;
}
