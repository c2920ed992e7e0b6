import type { FastifyInstance } from 'fastify';
import type { MediaControl } from '../../../control/MediaControl.ts';
import { ref } from '../schemas.ts';
import { errorResponses } from './common.ts';

/** Operator actions on the server itself. */
export async function adminRoutes(app: FastifyInstance, { control }: { control: MediaControl }): Promise<void> {
  app.post(
    '/admin/drain',
    {
      schema: {
        tags: ['system'],
        summary:
          'Graceful drain, as SIGTERM: no new calls, the calls in progress go on; the process exits 0 once they end or DRAIN_TIMEOUT_MS passes',
        response: { 202: ref('Health'), ...errorResponses(401, 503) },
      },
    },
    async (_request, reply) => {
      const drain = control.drain();
      return reply.code(202).send({ status: 'draining', endpoints: drain.endpoints });
    },
  );
}
