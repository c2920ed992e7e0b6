import type { FlowEmit } from '../flows/events.ts';
import type { ServerEventType, ServerEvents } from './events.ts';
import type { EventListener, EventSource } from './EventSource.ts';
import type { ServerEvent } from './types.ts';

export type { EventListener } from './EventSource.ts';

/**
 * Every event the server emits, numbered with a strictly increasing `seq`, kept in a bounded
 * ring so that a WebSocket client reconnecting with `?since=SEQ` gets what it missed.
 * Listeners are called synchronously and must not block: slow consumers buffer on their side
 * (see the WebSocket route) and are cut off rather than stalling the bus.
 */
export class EventBus implements EventSource {
  readonly #capacity: number;
  readonly #ring: (ServerEvent | undefined)[];
  readonly #listeners = new Set<EventListener>();
  #seq = 0;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
    this.#ring = new Array(capacity);
  }

  get lastSeq(): number {
    return this.#seq;
  }

  /** Oldest seq still replayable (0 when nothing was emitted). */
  get oldestSeq(): number {
    return this.#seq === 0 ? 0 : Math.max(1, this.#seq - this.#capacity + 1);
  }

  /** Emits an event of the catalogue (control/events.ts), its payload checked against it. */
  publish<T extends ServerEventType>(type: T, payload: ServerEvents[T]): ServerEvent {
    return this.emit(type, payload);
  }

  /** FlowService's sink: the flows' events (flows/events.ts) are part of the catalogue. */
  forFlows(): FlowEmit {
    return (type, payload) => {
      this.emit(type, payload);
    };
  }

  /**
   * Untyped: for tests and tools that inject events of their own. The server publishes through
   * publish() only, so what it emits is in the catalogue (and its schemas, schemas/events/).
   */
  emit(type: string, payload: Record<string, unknown> = {}): ServerEvent {
    const event: ServerEvent = { ...payload, seq: ++this.#seq, type, time: new Date().toISOString() };
    this.#ring[event.seq % this.#capacity] = event;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // a faulty listener must not break emitters or other listeners
      }
    }
    return event;
  }

  /** Events with seq > `since` still in the buffer, oldest first. */
  since(since: number): ServerEvent[] {
    const from = Math.max(since + 1, this.oldestSeq);
    const out: ServerEvent[] = [];
    for (let s = from; s <= this.#seq; s++) {
      const e = this.#ring[s % this.#capacity];
      if (e !== undefined && e.seq === s) out.push(e);
    }
    return out;
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
