import type { FastifyInstance } from 'fastify';
import type { Cluster } from '../../../cluster/Cluster.ts';
import { ref } from '../schemas.ts';
import { errorResponses } from './common.ts';

/** GET /cluster: the members as Redis sees them (registered with REDIS_URL only). */
export function clusterRoutes(cluster: Cluster): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.get(
      '/cluster',
      {
        schema: {
          tags: ['system'],
          summary:
            'The live members of the cluster (id, URLs, media address, free ports, endpoints, load, ready or draining) and which one answered; 503 CLUSTER_UNAVAILABLE while Redis is unreachable',
          response: { 200: ref('ClusterStatus'), ...errorResponses(401, 500, 503) },
        },
      },
      async () => cluster.view(),
    );
  };
}
