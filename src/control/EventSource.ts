import type { ServerEvent } from './types.ts';

export type EventListener = (event: ServerEvent) => void;

/**
 * What the event readers (WebSocket /events, gRPC Events, webhooks) need from a stream of
 * events: numbered by a strictly increasing `seq`, the recent ones replayable. The local
 * EventBus is one; in a cluster, ClusterEventFeed (src/cluster/) is the other: the whole
 * cluster's events in the Redis Stream's order, `seq` being the cluster position.
 */
export interface EventSource {
  /** The last event's seq (0 before the first). */
  readonly lastSeq: number;
  /** Oldest seq still replayable (0 when nothing is buffered). */
  readonly oldestSeq: number;
  /** Events with seq > `since` still buffered, oldest first. */
  since(since: number): ServerEvent[];
  /** Listeners are called synchronously, in seq order, and must not block. */
  subscribe(listener: EventListener): () => void;
}
