import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { MediaControl } from '../../../control/MediaControl.ts';
import type { EventSource } from '../../../control/EventSource.ts';
import type { ServerEvent } from '../../../control/types.ts';
import { moduleLogger, type Logger } from '../../../common/logger.ts';
import type { ApiMetrics } from '../metrics.ts';
import { ref } from '../schemas.ts';
import { errorBody } from '../errorHandler.ts';
import { errorResponses } from './common.ts';

export interface EventRoutesOptions {
  control: MediaControl;
  metrics: ApiMetrics;
  /** The root logger (this route logs as module 'events-ws'). */
  logger: Logger;
  /**
   * A client whose unsent backlog (ws `bufferedAmount`: socket write buffer plus frames not yet
   * framed) passes this is closed with 1013 rather than buffering without bound. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /** Ping every client this often; one that did not pong since the last ping is dropped. */
  pingIntervalMs?: number;
  /** Where events come from: `control.events` by default; the cluster stream in a cluster. */
  source?: EventSource;
}

export interface EventsQuery {
  since?: string;
  types?: string;
  token?: string;
}

/** Sent first on a `?since=` that cannot be honoured in full: events were lost to the client. */
export interface EventsGapNotice {
  type: 'events.gap';
  requested_since: number;
  /** Oldest seq still buffered; the replay starts there. */
  oldest_seq: number;
  last_seq: number;
}

interface Client {
  readonly socket: WebSocket;
  readonly prefixes: readonly string[] | null;
  /** Backlog bound: maxBufferedBytes plus what the replay queued at connect time. */
  readonly limit: number;
  lastSeq: number;
  alive: boolean;
}

const WS_OPEN = 1;
/** RFC 6455 section 7.4.1 and IANA registry: 1013 "Try Again Later". */
const CLOSE_TRY_AGAIN_LATER = 1013;

function parsePrefixes(types: string | undefined): string[] | null {
  if (types === undefined) return null;
  const list = types
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return list.length === 0 ? null : list;
}

function wanted(prefixes: readonly string[] | null, type: string): boolean {
  if (prefixes === null) return true;
  for (const p of prefixes) if (type.startsWith(p)) return true;
  return false;
}

/**
 * `GET /events` (WebSocket): replay of `?since=SEQ` from the bus ring, then live events, one JSON
 * text frame each. One bus subscription fans out to every client and serialises each event once.
 * The bus calls us synchronously from emitters, so nothing here may wait: a client that does not
 * keep up is cut off (1013) instead of stalling the emitter or growing memory.
 */
export async function eventRoutes(app: FastifyInstance, opts: EventRoutesOptions): Promise<void> {
  const { control, metrics } = opts;
  const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
  const pingIntervalMs = opts.pingIntervalMs ?? 30_000;
  const bus: EventSource = opts.source ?? control.events;
  const clients = new Set<Client>();
  // the root logger: app.log already binds module 'api'
  const log = moduleLogger(opts.logger, 'events-ws');

  function drop(client: Client): void {
    if (clients.delete(client)) metrics.wsClients.dec();
  }

  function cutOff(client: Client): void {
    drop(client);
    metrics.wsSlowConsumers.inc();
    log.warn({ buffered: client.socket.bufferedAmount, last_seq: client.lastSeq }, 'slow events consumer closed');
    // the close frame queues behind the backlog; ws destroys the socket if the peer never answers
    client.socket.close(CLOSE_TRY_AGAIN_LATER, 'slow consumer');
  }

  const unsubscribe = bus.subscribe((event: ServerEvent) => {
    if (clients.size === 0) return;
    let json: string | null = null;
    for (const client of clients) {
      if (event.seq <= client.lastSeq) continue;
      if (!wanted(client.prefixes, event.type)) {
        client.lastSeq = event.seq;
        continue;
      }
      if (client.socket.readyState !== WS_OPEN) {
        drop(client);
        continue;
      }
      if (client.socket.bufferedAmount > client.limit) {
        cutOff(client);
        continue;
      }
      json ??= JSON.stringify(event);
      client.socket.send(json);
      client.lastSeq = event.seq;
      metrics.wsEventsSent.inc();
    }
  });

  const pinger = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        log.debug('events client missed a pong; terminating');
        drop(client);
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  app.addHook('onClose', async () => {
    clearInterval(pinger);
    unsubscribe();
    for (const client of clients) client.socket.close(1001, 'server shutting down');
    clients.clear();
  });

  // wsHandler + handler rather than `websocket: true`, which hides the route from the OpenAPI document
  app.route<{ Querystring: EventsQuery }>({
    method: 'GET',
    url: '/events',
    schema: {
      tags: ['events'],
      summary: 'WebSocket: every event as a JSON text frame with increasing seq; ?since=SEQ replays what was missed',
      description:
        'Upgrade to WebSocket. With `since`, events with seq > since still buffered are replayed first, preceded by ' +
        '`{"type":"events.gap","oldest_seq":N}` when some were already dropped from the buffer (or the server restarted). ' +
        '`types` keeps events whose type starts with one of the comma-separated prefixes. Slow readers are closed with 1013. ' +
        '`token` may replace the Authorization header. Each frame is a `ServerEvent` (components/schemas: one `event.TYPE` ' +
        'schema per event type, the envelope `EventEnvelope` {seq, type, time}; also schemas/events/ and its asyncapi.yaml). ' +
        "In a cluster (REDIS_URL) every instance delivers the whole cluster's events in one order: `seq` is the cluster " +
        'position (the same on every instance) and each event names its `instance`.',
      querystring: ref('EventsQuery'),
      response: { ...errorResponses(400, 401, 426) },
    },
    handler: async (_request, reply) =>
      reply
        .code(426)
        .header('upgrade', 'websocket')
        .send(errorBody('UPGRADE_REQUIRED', 'GET /events is a WebSocket; send Upgrade: websocket')),
    wsHandler: (socket, request) => {
      const prefixes = parsePrefixes(request.query.types);
      let lastSeq = bus.lastSeq;
      let replayBytes = 0;
      if (request.query.since !== undefined) {
        const since = Number(request.query.since);
        const oldest = bus.oldestSeq;
        // since > lastSeq: the seqs the client knows come from before a restart
        if (since > bus.lastSeq || (oldest > 0 && since < oldest - 1)) {
          const gap: EventsGapNotice = {
            type: 'events.gap',
            requested_since: since,
            oldest_seq: oldest,
            last_seq: bus.lastSeq,
          };
          socket.send(JSON.stringify(gap));
        }
        // replay and registration happen in this same tick, so no live event falls between them
        for (const event of bus.since(since)) {
          if (!wanted(prefixes, event.type)) continue;
          const json = JSON.stringify(event);
          replayBytes += json.length;
          socket.send(json);
          metrics.wsEventsSent.inc();
        }
        lastSeq = bus.lastSeq;
      }
      const client: Client = { socket, prefixes, limit: maxBuffered + replayBytes, lastSeq, alive: true };
      clients.add(client);
      metrics.wsClients.inc();

      socket.on('pong', () => {
        client.alive = true;
      });
      socket.on('close', () => drop(client));
      socket.on('error', (err) => {
        log.debug({ err }, 'events socket error');
        drop(client);
      });
    },
  });
}
