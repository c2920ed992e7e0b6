import fastify, { LogController, type FastifyInstance } from 'fastify';
import { moduleLogger, type Logger } from '../../common/logger.ts';
import type { MediaControl } from '../../control/MediaControl.ts';
import { errorHandler, notFoundHandler } from './errorHandler.ts';
import type { ApiMetrics } from './metrics.ts';
import { systemRoutes } from './routes/system.ts';
import { loadApiSchemas } from './schemas.ts';

export interface OperatorAppOptions {
  control: MediaControl;
  /** The API's metrics, so both listeners expose the same figures. */
  metrics: ApiMetrics;
  logger: Logger;
}

/**
 * The operator listener (METRICS_PORT): `/metrics`, `/ready` and `/health` without the API
 * token, for Prometheus and orchestrators' probes that cannot hold a secret. It serves nothing
 * else, so it can stay on an internal network while the API keeps its token.
 */
export async function buildOperatorApp(opts: OperatorAppOptions): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: moduleLogger(opts.logger, 'operator-api'),
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  for (const schema of loadApiSchemas()) app.addSchema(schema);
  await app.register(systemRoutes, { control: opts.control, metrics: opts.metrics });
  return app;
}
