import type { ServerEvent } from '../control/types.ts';
import type { Ownership } from './Ownership.ts';

/** Verbs of `<kind>.<verb>` events that start a resource's life and end it. */
const STARTS = new Set(['created', 'started']);
const ENDS = new Set(['deleted', 'finished', 'ended', 'completed', 'failed', 'stopped', 'sent']);

/**
 * The id a lifecycle event names: `<kind>_id` (endpoint_id, bridge_id, playback_id, ...), a flow's
 * `session_id`, or a plain `id` (dtmf.sent).
 */
function subjectId(kind: string, e: ServerEvent): string | null {
  const p = e as unknown as Record<string, unknown>;
  const v = p[`${kind}_id`] ?? (kind === 'flow' ? p.session_id : p.id);
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * Keeps the ownership records in step with the event bus, for every kind of resource, including
 * those other parts add: a `<kind>.created|started` event claims its id, a
 * `<kind>.deleted|finished|ended|completed|failed|stopped|sent` event ends it (finished flow
 * sessions and recordings stay owned a while: their owner still serves them, Ownership.end).
 * Returns the unsubscription.
 */
export function trackOwnership(
  bus: { subscribe(listener: (e: ServerEvent) => void): () => void },
  ownership: Ownership,
  endpointAffinity: (id: string) => string | null,
): () => void {
  return bus.subscribe((e) => {
    const dot = e.type.indexOf('.');
    if (dot < 0 || e.type.indexOf('.', dot + 1) >= 0) return;
    const kind = e.type.slice(0, dot);
    const verb = e.type.slice(dot + 1);
    if (kind === 'server' || kind === 'worker' || kind === 'instance') return;
    const id = subjectId(kind, e);
    if (id === null) return;
    if (STARTS.has(verb)) {
      const p = e as unknown as Record<string, unknown>;
      // a conference holds the affinity key of its id: endpoints created with it land next to it
      const affinity = kind === 'endpoint' ? endpointAffinity(id) : kind === 'conference' ? id : null;
      void ownership.claim(id, {
        kind,
        ...(affinity !== null ? { affinity } : {}),
        ...(kind !== 'endpoint' && typeof p.endpoint_id === 'string' ? { endpointId: p.endpoint_id } : {}),
      });
    } else if (ENDS.has(verb)) {
      ownership.end(id);
    }
  });
}
