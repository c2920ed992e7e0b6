import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../../common/errors.ts';
import type {
  PlaybackRecord,
  PlaybackService,
  StartPlaybackRequest,
} from '../../../control/services/PlaybackService.ts';
import { ref } from '../schemas.ts';
import { errorResponses, type IdParams } from './common.ts';

/** POST /playback body (schemas/api/CreatePlaybackRequest.json). */
export interface CreatePlaybackBody {
  endpoint_id?: string;
  conference_id?: string;
  media: string[];
  loop?: number | boolean;
  barge_in?: boolean | string;
  barge_in_speech?: boolean;
  voice?: string;
  lang?: string;
  rate?: number;
  engine?: string;
  digits_mode?: 'speak' | 'dtmf';
  digit_duration_ms?: number;
}

/** The Playback reply shape (snake_case). */
export function playbackBody(r: PlaybackRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { id: r.id, state: r.state, media: r.media, created_at: r.createdAt };
  if (r.endpointId !== undefined) out.endpoint_id = r.endpointId;
  if (r.conferenceId !== undefined) out.conference_id = r.conferenceId;
  if (r.loop !== undefined) out.loop = r.loop;
  if (r.bargeIn !== undefined) out.barge_in = r.bargeIn;
  if (r.bargeInSpeech !== undefined) out.barge_in_speech = r.bargeInSpeech;
  if (r.finishedAt !== undefined) out.finished_at = r.finishedAt;
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.digit !== undefined) out.digit = r.digit;
  if (r.error !== undefined) out.error = r.error;
  if (r.playedMs !== undefined) out.played_ms = r.playedMs;
  return out;
}

function startRequest(b: CreatePlaybackBody): StartPlaybackRequest {
  if ((b.endpoint_id === undefined) === (b.conference_id === undefined)) {
    throw new ValidationError('INVALID_PLAYBACK', 'body must have exactly one of endpoint_id and conference_id');
  }
  const req: StartPlaybackRequest = { media: b.media };
  if (b.endpoint_id !== undefined) req.endpointId = b.endpoint_id;
  if (b.conference_id !== undefined) req.conferenceId = b.conference_id;
  if (b.loop !== undefined) req.loop = b.loop;
  if (b.barge_in !== undefined) req.bargeIn = b.barge_in;
  if (b.barge_in_speech !== undefined) req.bargeInSpeech = b.barge_in_speech;
  if (b.voice !== undefined) req.voice = b.voice;
  if (b.lang !== undefined) req.lang = b.lang;
  if (b.rate !== undefined) req.rate = b.rate;
  if (b.engine !== undefined) req.engine = b.engine;
  if (b.digits_mode !== undefined) req.digitsMode = b.digits_mode;
  if (b.digit_duration_ms !== undefined) req.digitDurationMs = b.digit_duration_ms;
  return req;
}

/** /playback: prompts, TTS, tones to an endpoint (DESIGN.md, "Control API contract"). */
export function playbackRoutes(playback: PlaybackService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: CreatePlaybackBody }>(
      '/playback',
      {
        schema: {
          tags: ['playback'],
          summary:
            'Play a playlist (prompts, files, URLs, TTS, tones, silence, digits) to an endpoint; replaces its current playback',
          body: ref('CreatePlaybackRequest'),
          response: { 201: ref('Playback'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request, reply) => {
        const record = await playback.start(startRequest(request.body));
        return reply.code(201).send(playbackBody(record));
      },
    );

    app.get(
      '/playback',
      {
        schema: {
          tags: ['playback'],
          summary: 'List playbacks (running, and the most recent finished ones)',
          response: { 200: ref('PlaybackList'), ...errorResponses(401, 500) },
        },
      },
      async () => playback.list().map(playbackBody),
    );

    app.get<{ Params: IdParams }>(
      '/playback/:id',
      {
        schema: {
          tags: ['playback'],
          summary: 'One playback: state, and why it finished',
          params: ref('IdParams'),
          response: { 200: ref('Playback'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => playbackBody(playback.get(request.params.id)),
    );

    app.delete<{ Params: IdParams }>(
      '/playback/:id',
      {
        schema: {
          tags: ['playback'],
          summary: 'Stop a playback (reason stopped); the endpoint goes back to its bridge or silence',
          params: ref('IdParams'),
          response: { 200: ref('Playback'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => playbackBody(await playback.stop(request.params.id)),
    );

    app.post<{ Params: IdParams }>(
      '/playback/:id/pause',
      {
        schema: {
          tags: ['playback'],
          summary: 'Pause a playback (silence is sent meanwhile)',
          params: ref('IdParams'),
          response: { 200: ref('Playback'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request) => playbackBody(await playback.pause(request.params.id)),
    );

    app.post<{ Params: IdParams }>(
      '/playback/:id/resume',
      {
        schema: {
          tags: ['playback'],
          summary: 'Resume a paused playback where it stopped',
          params: ref('IdParams'),
          response: { 200: ref('Playback'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request) => playbackBody(await playback.resume(request.params.id)),
    );
  };
}
