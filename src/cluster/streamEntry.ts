import type { ServerEvent } from '../control/types.ts';

/**
 * The wire form of one event in the cluster's Redis Stream (`events`): the entry id is
 * `<seq>-0`, `seq` being the cluster position the append script gave it (EventStreamWriter), and
 * the fields are `instance` (the member whose bus emitted it, or that a failover speaks for) and
 * `event` (the event's JSON as its bus numbered it).
 */

/** The cluster seq of an entry id `<seq>-0`, or null for an id this schema did not write. */
export function seqOfEntryId(id: string): number | null {
  const m = /^(\d+)-0$/.exec(id);
  if (m === null) return null;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

/**
 * The event as cluster readers deliver it: its own fields with `seq` replaced by the cluster seq
 * (so `?since=SEQ` works as on one instance) and `instance` added last. Null for an entry that
 * is not ours (a foreign id, missing fields, bad JSON): readers skip it.
 */
export function decodeEntry(id: string, fields: readonly string[]): ServerEvent | null {
  const seq = seqOfEntryId(id);
  if (seq === null) return null;
  let instance: string | null = null;
  let json: string | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'instance') instance = fields[i + 1] as string;
    else if (fields[i] === 'event') json = fields[i + 1] as string;
  }
  if (instance === null || json === null) return null;
  let event: unknown;
  try {
    event = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof event !== 'object' || event === null || typeof (event as ServerEvent).type !== 'string') return null;
  const e = event as ServerEvent;
  e.seq = seq;
  e.instance = instance;
  return e;
}
