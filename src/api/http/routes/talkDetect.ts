import type { FastifyInstance } from 'fastify';
import type { TalkService } from '../../../control/services/TalkService.ts';
import { talkDetectBody, talkDetectOptions, type TalkDetectBody } from '../../talkDetectWire.ts';
import { ref } from '../schemas.ts';
import { errorResponses, NO_CONTENT, type IdParams } from './common.ts';

/** /endpoints/:id/talk-detect: talk detection on an endpoint (Asterisk's TALK_DETECT). */
export function talkDetectRoutes(talk: TalkService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Params: IdParams; Body: TalkDetectBody }>(
      '/endpoints/:id/talk-detect',
      {
        schema: {
          tags: ['endpoints'],
          summary:
            'Turn talk detection on (or change its thresholds): endpoint.talking_started / endpoint.talking_stopped {duration_ms} events',
          params: ref('IdParams'),
          body: ref('TalkDetectRequest'),
          response: { 200: ref('TalkDetect'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => talkDetectBody(await talk.configure(request.params.id, talkDetectOptions(request.body ?? {}))),
    );

    app.get<{ Params: IdParams }>(
      '/endpoints/:id/talk-detect',
      {
        schema: {
          tags: ['endpoints'],
          summary: 'Talk detection of an endpoint: on or off, talking now, thresholds',
          params: ref('IdParams'),
          response: { 200: ref('TalkDetect'), ...errorResponses(401, 404, 500) },
        },
      },
      async (request) => talkDetectBody(await talk.get(request.params.id)),
    );

    app.delete<{ Params: IdParams }>(
      '/endpoints/:id/talk-detect',
      {
        schema: {
          tags: ['endpoints'],
          summary: 'Turn talk detection off (no more talking events)',
          params: ref('IdParams'),
          response: { 204: NO_CONTENT, ...errorResponses(401, 404, 500) },
        },
      },
      async (request, reply) => {
        await talk.configure(request.params.id, null);
        return reply.code(204).send();
      },
    );
  };
}
