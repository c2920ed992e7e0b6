import type { FastifyInstance } from 'fastify';
import type { DtmfService } from '../../../control/services/DtmfService.ts';
import { ref } from '../schemas.ts';
import { errorResponses, type IdParams } from './common.ts';

/** POST /endpoints/:id/dtmf body (schemas/api/DtmfRequest.json). */
export interface DtmfBody {
  digits: string;
  duration_ms?: number;
}

/** POST /endpoints/:id/dtmf: send digits to the endpoint's peer (DESIGN.md, "Control API contract"). */
export function dtmfRoutes(dtmf: DtmfService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Params: IdParams; Body: DtmfBody }>(
      '/endpoints/:id/dtmf',
      {
        schema: {
          tags: ['endpoints'],
          summary:
            'Send DTMF: RFC 4733 events when the peer negotiated telephone-event, else in-band tones. Answers 202 at once; dtmf.sent or dtmf.failed (same id) reports the outcome',
          params: ref('IdParams'),
          body: ref('DtmfRequest'),
          response: { 202: ref('DtmfAccepted'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request, reply) => {
        const options = request.body.duration_ms === undefined ? {} : { durationMs: request.body.duration_ms };
        return reply.code(202).send(dtmf.start(request.params.id, request.body.digits, options));
      },
    );
  };
}
