import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RecordingService, StartRecordingOptions } from '../../../control/services/RecordingService.ts';
import { ref } from '../schemas.ts';
import { errorResponses, type IdParams } from './common.ts';

/** POST /recordings body (schemas/api/CreateRecordingRequest.json). */
export interface CreateRecordingBody {
  endpoint_id?: string;
  bridge_id?: string;
  conference_id?: string;
  format: 'wav' | 'mp3' | 'opus';
  channels?: 'mono' | 'stereo';
  max_duration_ms?: number;
  max_silence_ms?: number;
  terminate_on?: string;
  beep?: boolean;
  if_exists?: 'fail' | 'overwrite' | 'append';
  name?: string;
}

function startOptions(b: CreateRecordingBody): StartRecordingOptions {
  const o: StartRecordingOptions = { format: b.format };
  if (b.endpoint_id !== undefined) o.endpointId = b.endpoint_id;
  if (b.bridge_id !== undefined) o.bridgeId = b.bridge_id;
  if (b.conference_id !== undefined) o.conferenceId = b.conference_id;
  if (b.channels !== undefined) o.channels = b.channels;
  if (b.max_duration_ms !== undefined) o.maxDurationMs = b.max_duration_ms;
  if (b.max_silence_ms !== undefined) o.maxSilenceMs = b.max_silence_ms;
  if (b.terminate_on !== undefined) o.terminateOn = b.terminate_on;
  if (b.beep !== undefined) o.beep = b.beep;
  if (b.if_exists !== undefined) o.ifExists = b.if_exists;
  if (b.name !== undefined) o.name = b.name;
  return o;
}

/** /recordings: record an endpoint or a bridge, stop, pause, download (DESIGN.md, "Control API contract"). */
export function recordingRoutes(recordings: RecordingService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: CreateRecordingBody }>(
      '/recordings',
      {
        schema: {
          tags: ['recordings'],
          summary: 'Start recording an endpoint or a bridge',
          body: ref('CreateRecordingRequest'),
          response: { 201: ref('Recording'), ...errorResponses(400, 401, 404, 409, 500, 503, 507) },
        },
      },
      async (request, reply) => reply.code(201).send(await recordings.start(startOptions(request.body))),
    );

    app.get(
      '/recordings',
      {
        schema: {
          tags: ['recordings'],
          summary: 'Recordings in progress and recently finished',
          response: { 200: ref('RecordingList'), ...errorResponses(401, 500) },
        },
      },
      async () => recordings.list(),
    );

    app.get<{ Params: IdParams }>(
      '/recordings/:id',
      {
        schema: {
          tags: ['recordings'],
          summary: 'One recording',
          params: ref('IdParams'),
          response: { 200: ref('Recording'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => recordings.status(request.params.id),
    );

    app.delete<{ Params: IdParams }>(
      '/recordings/:id',
      {
        schema: {
          tags: ['recordings'],
          summary:
            'Stop a recording; answers with the finalised file (a recording that already ended answers the same)',
          params: ref('IdParams'),
          response: { 200: ref('RecordingResult'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => recordings.stop(request.params.id),
    );

    app.post<{ Params: IdParams }>(
      '/recordings/:id/pause',
      {
        schema: {
          tags: ['recordings'],
          summary: 'Pause: audio meanwhile is neither written nor counted toward max_duration',
          params: ref('IdParams'),
          response: { 200: ref('Recording'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request) => recordings.pause(request.params.id),
    );

    app.post<{ Params: IdParams }>(
      '/recordings/:id/resume',
      {
        schema: {
          tags: ['recordings'],
          summary: 'Resume a paused recording',
          params: ref('IdParams'),
          response: { 200: ref('Recording'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request) => recordings.resume(request.params.id),
    );

    app.get<{ Params: IdParams }>(
      '/recordings/:id/media',
      {
        schema: {
          tags: ['recordings'],
          summary:
            'Download the file (audio/wav, audio/mpeg or audio/ogg); a WAV in progress is playable as far as written',
          params: ref('IdParams'),
          produces: ['audio/wav', 'audio/mpeg', 'audio/ogg'],
          response: {
            200: { description: 'The recording file', type: 'string', format: 'binary' },
            ...errorResponses(400, 401, 404, 409, 500),
          },
        },
      },
      async (request, reply) => {
        const m = await recordings.media(request.params.id);
        // a file still growing is served as far as it was when asked, so length and body agree;
        // read from the handle the service opened (no link followed), which the stream closes
        let body: NodeJS.ReadableStream | Buffer;
        if (m.bytes > 0) {
          body = m.file.createReadStream({ start: 0, end: m.bytes - 1, autoClose: true });
        } else {
          await m.file.close();
          body = Buffer.alloc(0);
        }
        return reply
          .type(m.contentType)
          .header('content-length', m.bytes)
          .header('content-disposition', `attachment; filename="${path.basename(m.path)}"`)
          .send(body);
      },
    );
  };
}
