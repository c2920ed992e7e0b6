/**
 * Process entry: config → MediaServer (media workers) → API → signals → close().
 * `npm start` runs this with the embedded defaults; environment variables override them.
 */
import { assertSafeApiBinding, loadConfig } from './config/config.ts';
import { checkWritableDirs } from './config/writableDirs.ts';
import { createLogger } from './common/logger.ts';
import { MediaServer } from './control/MediaServer.ts';
import { AudioPrepPool } from './media/prep/AudioPrepPool.ts';
import { buildApp } from './api/http/app.ts';
import { MediaFlowEngines } from './control/MediaFlowEngines.ts';
import { FlowService } from './flows/FlowService.ts';
import { WebhookDelivery } from './control/WebhookDelivery.ts';
import { WebhookSigner } from './common/WebhookSigner.ts';
import { startGrpcServer } from './api/grpc/GrpcServer.ts';
import { buildOperatorApp } from './api/http/operatorApp.ts';
import { flushWebSockets } from './api/http/flushWebSockets.ts';
import { ClusterEvents } from './cluster/ClusterEvents.ts';
import { Cluster } from './cluster/Cluster.ts';
import { advertisedUrls } from './cluster/advertisedUrls.ts';

const logger = createLogger();

async function main(): Promise<void> {
  const config = loadConfig();
  assertSafeApiBinding(config);
  for (const p of checkWritableDirs(config)) {
    logger.error(
      { setting: p.setting, dir: p.dir, cause: p.cause },
      `${p.setting} ${p.dir} is not writable (${p.cause}): ${p.effect}`,
    );
  }
  const server = new MediaServer(config, logger, { prep: AudioPrepPool.start });
  await server.start();
  // In a cluster, /events, gRPC Events and the webhook deliver the cluster's one event stream
  // (Redis), and only the leader posts webhooks, so N members sharing WEBHOOK_URL post each event once.
  const clusterEvents =
    config.cluster === null
      ? null
      : await ClusterEvents.start({
          cluster: config.cluster,
          eventBufferSize: config.eventBufferSize,
          bus: server.events,
          logger,
        });
  const eventSource = clusterEvents?.feed ?? server.events;
  const webhook = config.webhookUrl
    ? new WebhookDelivery({
        bus: clusterEvents?.webhookSource ?? server.events,
        url: config.webhookUrl,
        logger,
        ...(config.webhookSecret !== null ? { signer: new WebhookSigner(config.webhookSecret) } : {}),
        ...(clusterEvents !== null ? { onDelivered: (batch) => clusterEvents.webhookSource.delivered(batch) } : {}),
      })
    : null;
  const flows = new FlowService({
    engines: MediaFlowEngines.forServer(server),
    emit: server.events.forFlows(),
    dir: config.flowsDir,
    logger,
    admit: () => server.assertAdmitting(),
  });
  // With REDIS_URL: a member of a cluster (src/cluster/); it follows the bus from now on, so
  // every resource created from here is recorded as owned here
  const cluster =
    config.cluster === null
      ? null
      : Cluster.create({
          config: config.cluster,
          host: server,
          logger,
          mediaAddress: config.publicIp ?? config.rtpBindIp,
        });
  const loaded = flows.loadDir();
  for (const p of loaded.problems) logger.warn({ problem: p }, 'flow not loaded');
  flows.watch();
  const app = await buildApp({
    control: server,
    config,
    logger,
    flows,
    eventSource,
    metricsRegistries: [
      ...(webhook !== null ? [webhook.registry] : []),
      ...(clusterEvents !== null ? [clusterEvents.registry] : []),
    ],
    ...(cluster !== null ? { cluster } : {}),
  });
  await app.listen({ host: config.apiHost, port: config.apiPort });
  const operator =
    config.metricsPort === null ? null : await buildOperatorApp({ control: server, metrics: app.apiMetrics, logger });
  await operator?.listen({ host: config.metricsHost, port: config.metricsPort! });
  // Ports chosen by the system (0) are known only now: never a media destination (SDP policy).
  for (const listener of [app.server, operator?.server]) {
    const bound = listener?.address();
    if (bound && typeof bound === 'object') server.addListeningPort(bound.port);
  }
  const grpc =
    config.grpcPort === null
      ? null
      : await startGrpcServer({
          control: server,
          config,
          logger,
          flows,
          eventSource,
          ...(cluster !== null ? { cluster } : {}),
        });
  if (grpc !== null) server.addListeningPort(grpc.port);
  if (cluster !== null) {
    const bound = app.server.address();
    const apiPort = bound !== null && typeof bound === 'object' ? bound.port : config.apiPort;
    await cluster.join(advertisedUrls(config, apiPort, grpc?.port ?? null));
  }
  logger.info(
    {
      api: `http://${config.apiHost}:${config.apiPort}`,
      rtp: `${config.rtpBindIp}:${config.rtpPortStart}-${config.rtpPortEnd}`,
      workers: server.workerCount,
      ...(cluster !== null ? { cluster: config.cluster?.name, instance: cluster.id } : {}),
    },
    'media-server-core ready',
  );

  // SIGTERM/SIGINT, POST /admin/drain or gRPC Drain: drain (no new calls, the calls in progress
  // go on until they end or DRAIN_TIMEOUT_MS passes), then stop. A second signal stops at once;
  // stopping always finalises recordings and flushes the last events to WebSocket clients.
  let phase: 'running' | 'draining' | 'stopping' = 'running';
  const skipDrain = new AbortController();
  const stop = async (reason: string) => {
    if (phase === 'stopping') return;
    phase = 'stopping';
    logger.info({ reason }, 'shutting down');
    // Exit within a few seconds whatever happens (a stuck client, a slow disk).
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 8000);
    force.unref();
    try {
      // out of the cluster first: no placement or forwarded request comes any more
      await cluster?.leave();
      await grpc?.close();
      flows.close();
      await server.close();
      await cluster?.close();
      // in a cluster the last events go through Redis before they reach this instance's clients
      await clusterEvents?.flush(1000);
      // the last events (sessions ended, endpoints closed) reach WebSocket clients before 1001
      await flushWebSockets(app, 1000);
      await app.close();
      await operator?.close();
      if (webhook) {
        await Promise.race([webhook.idle(), new Promise((r) => setTimeout(r, 1000))]);
        webhook.close();
      }
      await clusterEvents?.close();
      logger.info('stopped');
      logger.flush();
      process.exitCode = 0;
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exitCode = 1;
    }
  };
  const drainThenStop = async (reason: string) => {
    if (phase !== 'running') return;
    phase = 'draining';
    server.drain();
    const timeout = AbortSignal.timeout(config.drainTimeoutMs);
    await server.whenIdle(AbortSignal.any([timeout, skipDrain.signal]));
    const left = server.drainStatus().endpoints;
    if (left > 0)
      logger.warn({ endpoints: left, timedOut: timeout.aborted }, 'drain ended with calls in progress; closing them');
    await stop(reason);
  };
  const onSignal = (signal: string) => {
    if (phase === 'running') void drainThenStop(signal);
    else if (phase === 'draining') {
      logger.info({ signal }, 'second signal: stopping now');
      skipDrain.abort();
    }
  };
  server.whenDrainRequested().then(
    () => drainThenStop('drain requested'),
    () => {},
  );
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  logger.fatal({ err }, `cannot start: ${e.message ?? String(err)}`);
  logger.flush();
  // exit, not exitCode: a failure after the workers or the HTTP listener started (GRPC_PORT in use) would keep the process alive
  process.exit(1);
});
