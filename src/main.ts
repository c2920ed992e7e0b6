/**
 * Process entry: config → MediaServer (media workers) → API → signals → close().
 * `npm start` runs this with the embedded defaults; environment variables override them.
 */
import { assertSafeApiBinding, loadConfig } from './config/config.ts';
import { checkWritableDirs } from './config/writableDirs.ts';
import { createLogger } from './common/logger.ts';
import { MediaServer } from './control/MediaServer.ts';
import { buildApp } from './api/http/app.ts';
import { MediaFlowEngines } from './control/MediaFlowEngines.ts';
import { FlowService } from './flows/FlowService.ts';
import { WebhookDelivery } from './control/WebhookDelivery.ts';
import { startGrpcServer } from './api/grpc/GrpcServer.ts';

const logger = createLogger();

async function main(): Promise<void> {
  const config = loadConfig();
  assertSafeApiBinding(config);
  for (const p of checkWritableDirs(config)) {
    logger.error({ setting: p.setting, dir: p.dir, cause: p.cause }, `${p.setting} ${p.dir} is not writable (${p.cause}): ${p.effect}`);
  }
  const server = new MediaServer(config, logger);
  await server.start();
  const webhook = config.webhookUrl ? new WebhookDelivery({ bus: server.events, url: config.webhookUrl, logger }) : null;
  const flows = new FlowService({
    engines: MediaFlowEngines.forServer(server),
    emit: (type, payload) => server.events.emit(type, payload),
    dir: config.flowsDir,
    logger: logger.child({ module: 'flows' }),
  });
  const loaded = flows.loadDir();
  for (const p of loaded.problems) logger.warn({ problem: p }, 'flow not loaded');
  flows.watch();
  const app = await buildApp({ control: server, config, logger, flows });
  await app.listen({ host: config.apiHost, port: config.apiPort });
  const grpc = config.grpcPort === null ? null : await startGrpcServer({ control: server, config, logger, flows });
  logger.info({ api: `http://${config.apiHost}:${config.apiPort}`, rtp: `${config.rtpBindIp}:${config.rtpPortStart}-${config.rtpPortEnd}`, workers: server.workerCount }, 'media-server-core ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Exit within a few seconds whatever happens (a stuck client, a slow disk).
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 8000);
    force.unref();
    try {
      await app.close();
      await grpc?.close();
      flows.close();
      await server.close();
      if (webhook) {
        // the last events (endpoints closed) get a short chance to go out
        await Promise.race([webhook.idle(), new Promise((r) => setTimeout(r, 1000))]);
        webhook.close();
      }
      logger.info('stopped');
      logger.flush();
      process.exitCode = 0;
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  logger.fatal({ err }, `cannot start: ${e.message ?? String(err)}`);
  logger.flush();
  // exit, not exitCode: a failure after the workers or the HTTP listener started (GRPC_PORT in use) would keep the process alive
  process.exit(1);
});
