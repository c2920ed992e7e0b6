import type { FastifyInstance } from 'fastify';
import type { MediaControl } from '../../../control/MediaControl.ts';
import type { CreateEndpointRequest, UpdateEndpointRequest } from '../../../control/types.ts';
import { ref } from '../schemas.ts';
import { errorResponses, NO_CONTENT, type IdParams } from './common.ts';

export interface EndpointRoutesOptions {
  control: MediaControl;
}

/** /endpoints: one RTP leg per call leg (DESIGN.md, "Control API contract"). */
export async function endpointRoutes(app: FastifyInstance, { control }: EndpointRoutesOptions): Promise<void> {
  app.post<{ Body: CreateEndpointRequest }>(
    '/endpoints',
    {
      schema: {
        tags: ['endpoints'],
        summary: 'Allocate an endpoint; with remote_sdp the reply carries our SDP answer, else our offer',
        body: ref('CreateEndpointRequest'),
        response: { 201: ref('Endpoint'), ...errorResponses(400, 401, 500, 503) },
      },
      // every field is optional, so a POST without a body means "all defaults"
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
    },
    async (request, reply) => {
      const endpoint = await control.createEndpoint(request.body);
      return reply.code(201).send(endpoint);
    },
  );

  app.get(
    '/endpoints',
    {
      schema: {
        tags: ['endpoints'],
        summary: 'List endpoints',
        response: { 200: ref('EndpointList'), ...errorResponses(401, 500) },
      },
    },
    async () => control.listEndpoints(),
  );

  app.get<{ Params: IdParams }>(
    '/endpoints/:id',
    {
      schema: {
        tags: ['endpoints'],
        summary: 'One endpoint: state, codec, remote address, statistics',
        params: ref('IdParams'),
        response: { 200: ref('Endpoint'), ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request) => control.getEndpoint(request.params.id),
  );

  app.patch<{ Params: IdParams; Body: UpdateEndpointRequest }>(
    '/endpoints/:id',
    {
      schema: {
        tags: ['endpoints'],
        summary: 'Answer to our offer, re-INVITE SDP, or hold/resume by direction',
        params: ref('IdParams'),
        body: ref('UpdateEndpointRequest'),
        response: { 200: ref('Endpoint'), ...errorResponses(400, 401, 404, 409, 500) },
      },
    },
    async (request) => control.updateEndpoint(request.params.id, request.body),
  );

  app.delete<{ Params: IdParams }>(
    '/endpoints/:id',
    {
      schema: {
        tags: ['endpoints'],
        summary: 'Close an endpoint and whatever uses it (bridge, playback, recording, flow)',
        params: ref('IdParams'),
        response: { 204: NO_CONTENT, ...errorResponses(400, 401, 404, 500) },
      },
    },
    async (request, reply) => {
      await control.deleteEndpoint(request.params.id);
      return reply.code(204).send();
    },
  );
}
