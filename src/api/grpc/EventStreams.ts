import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from '../../common/logger.ts';
import type { EventSource } from '../../control/EventSource.ts';
import type { ServerEvent } from '../../control/types.ts';
import type { EventMessage, EventsMessage } from './messages.ts';
import { GrpcStatusError, toGrpcError } from './status.ts';

export interface EventStreamsOptions {
  /**
   * Bytes of events (their JSON) a stream may hold back once grpc-js says it is full
   * (`write()` returned false); past it the stream ends with RESOURCE_EXHAUSTED. Default 1 MiB,
   * the WebSocket route's bound. The replay at connect time is added to it.
   */
  maxQueuedBytes?: number;
}

export type EventsCall = ServerWritableStream<EventsMessage, EventMessage>;

interface Client {
  readonly call: EventsCall;
  readonly prefixes: readonly string[] | null;
  readonly limit: number;
  lastSeq: number;
  /** write() returned false: events wait in `queue` until 'drain'. */
  blocked: boolean;
  queue: EventMessage[];
  head: number;
  queuedBytes: number;
}

function wanted(prefixes: readonly string[] | null, type: string): boolean {
  if (prefixes === null) return true;
  for (const p of prefixes) if (type.startsWith(p)) return true;
  return false;
}

function message(event: ServerEvent, json: string): EventMessage {
  return { seq: event.seq, type: event.type, time: event.time, json };
}

/**
 * The `Events` server stream: replay of `since` from the bus ring, then live events, like the
 * WebSocket route. One bus subscription serves every stream and serialises each event once. The
 * bus calls us synchronously from emitters, so nothing here waits: a stream that grpc-js reports
 * full (`write()` false, HTTP/2 flow control holding it) queues, and one whose queue passes the
 * bound is ended with RESOURCE_EXHAUSTED instead of stalling the bus or growing memory.
 */
export class EventStreams {
  readonly #bus: EventSource;
  readonly #log: Logger;
  readonly #maxQueued: number;
  readonly #clients = new Set<Client>();
  #unsubscribe: (() => void) | null = null;
  #slowConsumers = 0;

  constructor(bus: EventSource, log: Logger, opts: EventStreamsOptions = {}) {
    this.#bus = bus;
    this.#log = log;
    this.#maxQueued = opts.maxQueuedBytes ?? 1024 * 1024;
  }

  /** Streams open now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Streams ended for falling behind, since start. */
  get slowConsumers(): number {
    return this.#slowConsumers;
  }

  /** Serves one Events call until the client cancels, falls behind, or close(). */
  open(call: EventsCall): void {
    const req = call.request;
    const types = (req.types ?? []).map((t) => t.trim()).filter((t) => t !== '');
    const prefixes = types.length === 0 ? null : types;
    let replayBytes = 0;
    const replay: EventMessage[] = [];
    const since = req.since;
    if (since !== undefined && since !== null) {
      const oldest = this.#bus.oldestSeq;
      // since > lastSeq: the seqs the client knows come from before a restart
      if (since > this.#bus.lastSeq || (oldest > 0 && since < oldest - 1)) {
        const gap = { type: 'events.gap', requested_since: since, oldest_seq: oldest, last_seq: this.#bus.lastSeq };
        replay.push({ seq: 0, type: gap.type, time: new Date().toISOString(), json: JSON.stringify(gap) });
      }
      for (const event of this.#bus.since(since)) {
        if (!wanted(prefixes, event.type)) continue;
        const json = JSON.stringify(event);
        replayBytes += json.length;
        replay.push(message(event, json));
      }
    }
    const client: Client = {
      call,
      prefixes,
      limit: this.#maxQueued + replayBytes,
      lastSeq: this.#bus.lastSeq,
      blocked: false,
      queue: [],
      head: 0,
      queuedBytes: 0,
    };
    // replay and registration in one tick, so no live event falls between them
    this.#clients.add(client);
    this.#unsubscribe ??= this.#bus.subscribe((e) => this.#onEvent(e));
    call.on('drain', () => this.#flush(client));
    call.on('cancelled', () => this.#drop(client));
    call.on('close', () => this.#drop(client));
    for (const m of replay) this.#deliver(client, m, m.json.length);
  }

  /** Ends every stream with UNAVAILABLE (clients reconnect with `since`). Idempotent. */
  close(): void {
    for (const client of [...this.#clients]) {
      this.#end(client, new GrpcStatusError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'server shutting down'));
    }
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  #onEvent(event: ServerEvent): void {
    let json: string | null = null;
    for (const client of this.#clients) {
      if (event.seq <= client.lastSeq) continue;
      client.lastSeq = event.seq;
      if (!wanted(client.prefixes, event.type)) continue;
      json ??= JSON.stringify(event);
      this.#deliver(client, message(event, json), json.length);
    }
  }

  #deliver(client: Client, m: EventMessage, bytes: number): void {
    if (client.blocked) {
      client.queue.push(m);
      client.queuedBytes += bytes;
      if (client.queuedBytes > client.limit) this.#cutOff(client);
      return;
    }
    if (!client.call.write(m)) client.blocked = true;
  }

  #flush(client: Client): void {
    if (!this.#clients.has(client)) return;
    client.blocked = false;
    const q = client.queue;
    while (client.head < q.length) {
      const m = q[client.head++] as EventMessage;
      client.queuedBytes -= m.json.length;
      if (!client.call.write(m)) {
        client.blocked = true;
        break;
      }
    }
    if (client.head === q.length) {
      client.queue = [];
      client.head = 0;
      client.queuedBytes = 0;
    }
  }

  #cutOff(client: Client): void {
    this.#slowConsumers++;
    this.#log.warn({ queued_bytes: client.queuedBytes, last_seq: client.lastSeq }, 'slow gRPC events consumer ended');
    this.#end(
      client,
      new GrpcStatusError(
        status.RESOURCE_EXHAUSTED,
        'SLOW_CONSUMER',
        `events reader fell more than ${client.limit} bytes behind; reconnect with since`,
      ),
    );
  }

  /** Ends the call with a status; what grpc-js already holds is still delivered before it. */
  #end(client: Client, err: GrpcStatusError): void {
    this.#drop(client);
    client.queue = [];
    client.head = 0;
    client.queuedBytes = 0;
    // grpc-js turns an 'error' on a server stream into the call's status, sent after its buffer
    client.call.emit('error', toGrpcError(err));
  }

  #drop(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#unsubscribe !== null) {
      this.#unsubscribe();
      this.#unsubscribe = null;
    }
  }
}
