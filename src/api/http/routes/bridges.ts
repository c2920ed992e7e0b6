import type { FastifyInstance } from 'fastify';
import type { MediaControl } from '../../../control/MediaControl.ts';
import type { CreateBridgeRequest } from '../../../control/types.ts';
import { ref } from '../schemas.ts';
import { errorResponses, NO_CONTENT, type IdParams } from './common.ts';

export interface BridgeRoutesOptions {
  control: MediaControl;
}

/** /bridges: two endpoints' media connected both ways. */
export async function bridgeRoutes(app: FastifyInstance, { control }: BridgeRoutesOptions): Promise<void> {
  app.post<{ Body: CreateBridgeRequest }>(
    '/bridges',
    {
      schema: {
        tags: ['bridges'],
        summary: 'Bridge two endpoints',
        body: ref('CreateBridgeRequest'),
        response: { 201: ref('Bridge'), ...errorResponses(400, 401, 404, 409, 500) },
      },
    },
    async (request, reply) => {
      const bridge = await control.createBridge(request.body);
      return reply.code(201).send(bridge);
    },
  );

  app.get(
    '/bridges',
    {
      schema: {
        tags: ['bridges'],
        summary: 'List bridges',
        response: { 200: ref('BridgeList'), ...errorResponses(401, 500) },
      },
    },
    async () => control.listBridges(),
  );

  app.get<{ Params: IdParams }>(
    '/bridges/:id',
    {
      schema: {
        tags: ['bridges'],
        summary: 'One bridge',
        params: ref('IdParams'),
        response: { 200: ref('Bridge'), ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request) => control.getBridge(request.params.id),
  );

  app.delete<{ Params: IdParams }>(
    '/bridges/:id',
    {
      schema: {
        tags: ['bridges'],
        summary: 'Unbridge; both endpoints stay open',
        params: ref('IdParams'),
        response: { 204: NO_CONTENT, ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request, reply) => {
      await control.deleteBridge(request.params.id);
      return reply.code(204).send();
    },
  );
}
