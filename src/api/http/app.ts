import { readFileSync } from 'node:fs';
import fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import websocket from '@fastify/websocket';
import { moduleLogger, type Logger } from '../../common/logger.ts';
import type { Config } from '../../config/config.ts';
import type { MediaApiRoot } from '../../control/MediaControl.ts';
import type { Cluster } from '../../cluster/Cluster.ts';
import type { FlowService } from '../../flows/FlowService.ts';
import { createAuthHook } from './auth.ts';
import { addClusterRouting } from './clusterRouting.ts';
import { declareCommonErrors } from './commonErrors.ts';
import { registerDocs } from './docs.ts';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './errorHandler.ts';
import { ApiMetrics } from './metrics.ts';
import { adminRoutes } from './routes/admin.ts';
import { bridgeRoutes } from './routes/bridges.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { conferenceRoutes } from './routes/conferences.ts';
import { amdRoutes } from './routes/amd.ts';
import { dtmfRoutes } from './routes/dtmf.ts';
import { talkDetectRoutes } from './routes/talkDetect.ts';
import { endpointRoutes } from './routes/endpoints.ts';
import { eventRoutes } from './routes/events.ts';
import type { EventSource } from '../../control/EventSource.ts';
import { flowRoutes } from './routes/flows.ts';
import { playbackRoutes } from './routes/playback.ts';
import { streamRoutes } from './routes/streams.ts';
import { recordingRoutes } from './routes/recordings.ts';
import { systemRoutes } from './routes/system.ts';
import { loadApiSchemas, loadEventSchemas } from './schemas.ts';

/** A route plugin added by the caller (gRPC-side admin, tests); runs inside the app's hooks. */
export type RoutePlugin = (app: FastifyInstance) => Promise<void>;

export interface BuildAppOptions {
  /**
   * The MediaServer: endpoints and bridges, and the engine services it owns (playback,
   * recordings, conferences, DTMF), whose routes are registered for each one present.
   */
  control: MediaApiRoot;
  config: Config;
  logger: Logger;
  /** The flow service; when given, the flow and session routes are registered with it. */
  flows?: FlowService;
  extraRoutes?: RoutePlugin[];
  /** Largest accepted request body. Default 1 MiB: an SDP is a few KiB. */
  bodyLimit?: number;
  /** More prom-client registries exposed on /metrics (the webhook's, which main.ts owns). */
  metricsRegistries?: Registry[];
  /**
   * With REDIS_URL: this instance's cluster; requests for resources other instances own are
   * forwarded to them, POST /endpoints is placed, GET /cluster lists the members.
   */
  cluster?: Cluster;
  /** /events tuning; defaults suit production (1 MiB backlog bound, 30 s ping). */
  events?: { maxBufferedBytes?: number; pingIntervalMs?: number };
  /** What /events delivers: the control plane's bus by default; in a cluster, the cluster stream. */
  eventSource?: EventSource;
}

/** The app's own fields on the instance, for main.ts and tests. */
declare module 'fastify' {
  interface FastifyInstance {
    apiMetrics: ApiMetrics;
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Shutdown of WebSocket clients: 1001 "going away" (RFC 6455 section 7.4.1) to those that can
 * still receive it; a client already closing (cut off as slow) or that does not complete the
 * handshake within a second is terminated, so close() never waits on ws's 30 s close timeout.
 */
function closeWebSockets(this: FastifyInstance, done: () => void): void {
  const clients = [...this.websocketServer.clients];
  for (const client of clients) {
    if (client.readyState === client.OPEN && client.bufferedAmount === 0) client.close(1001, 'server shutting down');
    else client.terminate();
  }
  if (clients.length > 0) {
    setTimeout(() => {
      for (const client of clients) if (client.readyState !== client.CLOSED) client.terminate();
    }, 1000).unref();
  }
  done();
}

/**
 * Builds the HTTP API over a MediaControl (fastify demo-app style: no listen here, so tests use
 * `app.inject`). The caller listens and closes; closing the app closes event sockets and timers,
 * never the control plane, which the caller owns.
 */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { control, config } = opts;
  const app = fastify({
    loggerInstance: moduleLogger(opts.logger, 'api'),
    // fastify's request log line carries the full URL, which may hold ?token=; we log our own
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
    // above IdParams' maxLength (128) so an over-long id gets the schema's 400 naming the field
    routerOptions: { maxParamLength: 256 },
    ajv: {
      customOptions: {
        // a wrong type is an error naming the field, not silently converted; an unknown field is
        // rejected (additionalProperties: false), not silently removed
        coerceTypes: false,
        removeAdditional: false,
        allErrors: false,
      },
    },
  }) as unknown as FastifyInstance;

  const metrics = new ApiMetrics(opts.metricsRegistries);
  app.decorate('apiMetrics', metrics);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // JSON only: a text/plain body is a 415, not a string that fails the schema
  app.removeContentTypeParser('text/plain');
  for (const schema of [...loadApiSchemas(), ...loadEventSchemas()]) app.addSchema(schema);

  // before the auth hook: its onRequest marks upgrade requests, and its onResponse destroys the
  // socket of an upgrade we refused (401); otherwise that socket would hold close() open
  await app.register(websocket, { options: { maxPayload: 64 * 1024 }, preClose: closeWebSockets });
  if (config.apiToken) app.addHook('onRequest', createAuthHook(config.apiToken));
  app.addHook('onResponse', metrics.onResponse);
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      {
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  declareCommonErrors(app, { secured: config.apiToken !== null });
  await registerDocs(app, { version: packageVersion(), secured: config.apiToken !== null });

  if (opts.cluster !== undefined) addClusterRouting(app, opts.cluster);
  await app.register(systemRoutes, {
    control,
    metrics,
    ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
  });
  if (opts.cluster !== undefined) await app.register(clusterRoutes(opts.cluster));
  await app.register(adminRoutes, { control });
  await app.register(endpointRoutes, { control });
  await app.register(bridgeRoutes, { control });
  await app.register(eventRoutes, {
    control,
    metrics,
    logger: opts.logger,
    ...opts.events,
    ...(opts.eventSource !== undefined ? { source: opts.eventSource } : {}),
  });
  if (control.conferences) await app.register(conferenceRoutes(control.conferences));
  if (control.dtmf) await app.register(dtmfRoutes(control.dtmf));
  if (control.amd) await app.register(amdRoutes(control.amd));
  if (control.talk) await app.register(talkDetectRoutes(control.talk));
  if (control.playback) await app.register(playbackRoutes(control.playback));
  if (control.recordings) await app.register(recordingRoutes(control.recordings));
  if (control.streams) await app.register(streamRoutes(control.streams));

  if (opts.flows !== undefined) {
    await app.register(flowRoutes, { flows: opts.flows });
  }
  for (const plugin of opts.extraRoutes ?? []) await app.register(plugin);
  return app;
}
