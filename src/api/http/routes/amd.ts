import type { FastifyInstance } from 'fastify';
import { AmdService } from '../../../control/services/AmdService.ts';
import { ref } from '../schemas.ts';
import { errorResponses, type IdParams } from './common.ts';

interface AmdParams {
  id: string;
  amd_id: string;
}

/**
 * Answering-machine detection on an endpoint (README, "Answering-machine detection"):
 * POST /endpoints/:id/amd starts one (201, running; the result comes as `endpoint.amd`),
 * GET /endpoints/:id/amd/:amd_id reads it, DELETE stops it (result `cancelled`).
 */
export function amdRoutes(amd: AmdService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Params: IdParams; Body: Record<string, number> }>(
      '/endpoints/:id/amd',
      {
        // A POST without a body takes every default.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) request.body = {};
        },
        schema: {
          tags: ['endpoints'],
          summary:
            "Start answering-machine detection (Asterisk's AMD() parameters, amd.conf names) on the audio the endpoint receives. Answers 201 at once, running; endpoint.amd (same id) reports human, machine or notsure with the cause",
          params: ref('IdParams'),
          body: ref('AmdRequest'),
          response: { 201: ref('AmdDetection'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request, reply) => {
        const parameters = AmdService.parseParameters(request.body);
        return reply.code(201).send(await amd.start(request.params.id, parameters));
      },
    );
    app.get<{ Params: AmdParams }>(
      '/endpoints/:id/amd/:amd_id',
      {
        schema: {
          tags: ['endpoints'],
          summary: 'An answering-machine detection: running, or done with its result and cause',
          params: ref('AmdParams'),
          response: { 200: ref('AmdDetection'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => amd.get(request.params.amd_id, request.params.id),
    );
    app.delete<{ Params: AmdParams }>(
      '/endpoints/:id/amd/:amd_id',
      {
        schema: {
          tags: ['endpoints'],
          summary: 'Stop an answering-machine detection (result cancelled); a finished one is answered as it is',
          params: ref('AmdParams'),
          response: { 200: ref('AmdDetection'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => amd.stop(request.params.amd_id, request.params.id),
    );
  };
}
