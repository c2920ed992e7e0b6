import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The API's own metrics, in a Registry per app (not prom-client's global one) so that several
 * apps in one process (tests) do not collide. Merged into /metrics after the control plane's.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  /** Registries owned elsewhere (the webhook delivery), appended after ours. */
  readonly #extra: readonly Registry[];

  constructor(extra: readonly Registry[] = []) {
    this.#extra = extra;
  }

  readonly requests = new Counter({
    name: 'msc_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'msc_http_request_duration_seconds',
    help: 'HTTP request duration, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly wsClients = new Gauge({
    name: 'msc_ws_event_clients',
    help: 'WebSocket /events clients connected',
    registers: [this.registry],
  });
  readonly wsSlowConsumers = new Counter({
    name: 'msc_ws_slow_consumer_disconnects_total',
    help: 'WebSocket /events clients closed with 1013 because they did not read fast enough',
    registers: [this.registry],
  });
  readonly wsEventsSent = new Counter({
    name: 'msc_ws_events_sent_total',
    help: 'Event frames sent to WebSocket /events clients (replay included)',
    registers: [this.registry],
  });

  /** onResponse hook; the route label is the pattern (`/endpoints/:id`), never the raw URL. */
  readonly onResponse = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = request.routeOptions.url ?? 'unmatched';
    this.requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    this.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  };

  /** Our exposition text appended to the control plane's. */
  async merge(controlText: string): Promise<string> {
    let own = await this.registry.metrics();
    for (const r of this.#extra) {
      const text = await r.metrics();
      own = own === '' || own.endsWith('\n') ? own + text : `${own}\n${text}`;
    }
    if (controlText === '') return own;
    return controlText.endsWith('\n') ? controlText + own : `${controlText}\n${own}`;
  }
}
