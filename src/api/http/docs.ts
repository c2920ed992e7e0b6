import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/**
 * OpenAPI 3.1 (JSON Schema 2020-12 compatible, so `type: ['string','null']` stays as written) built
 * from the route schemas and the shared schemas of schemas/api, components named by `$id`.
 * Must be registered before the routes: @fastify/swagger collects them in onRoute.
 */
export async function registerDocs(app: FastifyInstance, opts: { version: string; secured: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'media-server-core control API',
        description: 'Endpoints, bridges and events of the media server. Errors are `{error: {code, message}}`.',
        version: opts.version,
      },
      tags: [
        { name: 'endpoints', description: 'RTP legs' },
        { name: 'bridges', description: 'Two endpoints connected' },
        { name: 'events', description: 'WebSocket event stream' },
        { name: 'system', description: 'Health, readiness, metrics' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      ...(opts.secured ? { security: [{ bearer: [] }] } : {}),
    },
    refResolver: {
      buildLocalReference(json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`;
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
}
