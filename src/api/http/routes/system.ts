import type { FastifyInstance } from 'fastify';
import type { MediaControl } from '../../../control/MediaControl.ts';
import type { ApiMetrics } from '../metrics.ts';
import { ref } from '../schemas.ts';
import { errorResponses } from './common.ts';

export interface SystemRoutesOptions {
  control: MediaControl;
  metrics: ApiMetrics;
  /** With REDIS_URL: /ready says whether Redis is reachable (it stays 200: the calls here go on). */
  cluster?: { readonly available: boolean };
}

/** Liveness, readiness and Prometheus metrics for operators. */
export async function systemRoutes(
  app: FastifyInstance,
  { control, metrics, cluster }: SystemRoutesOptions,
): Promise<void> {
  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Liveness; open without the token',
        security: [],
        response: { 200: ref('Health'), 503: ref('Health') },
      },
    },
    async (_request, reply) => {
      if (!control.isLive()) return reply.code(503).send({ status: 'not_ready' });
      // Draining is alive: an orchestrator must not kill the calls it is letting finish.
      const drain = control.drainStatus();
      return drain.draining ? { status: 'draining', endpoints: drain.endpoints } : { status: 'ok' };
    },
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        summary: 'Readiness: every media worker up, an RTP port pair free, not draining or shutting down',
        response: { 200: ref('Health'), 503: ref('Health'), ...errorResponses(401) },
      },
    },
    async (_request, reply) => {
      if (control.drainStatus().draining) return reply.code(503).send({ status: 'draining' });
      if (!control.isReady()) return reply.code(503).send({ status: 'not_ready' });
      if (cluster !== undefined) return { status: 'ok', cluster: cluster.available ? 'ok' : 'unavailable' };
      return { status: 'ok' };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus exposition text: control plane, media workers and the API itself',
        response: {
          200: {
            description: 'Prometheus text format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...errorResponses(401, 500),
        },
      },
    },
    async (_request, reply) => {
      const control_ = await control.metrics();
      const body = await metrics.merge(control_.body);
      return reply.type(control_.contentType || metrics.registry.contentType).send(body);
    },
  );
}
