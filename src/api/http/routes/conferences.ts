import type { FastifyInstance } from 'fastify';
import type {
  AddParticipantRequest,
  ConferenceService,
  CreateConferenceRequest,
  ParticipantChanges,
} from '../../../control/services/ConferenceService.ts';
import { conferenceBody, participantBody } from '../../conferenceWire.ts';
import { ref } from '../schemas.ts';
import { errorResponses, NO_CONTENT, type IdParams } from './common.ts';

/** POST /conferences body (schemas/api/ConferenceCreateRequest.json). */
export interface ConferenceCreateBody {
  id?: string;
  sample_rate?: 8000 | 16000 | 48000;
  max_participants?: number;
  loudest_talkers?: number;
  entry_tone?: boolean;
  exit_tone?: boolean;
  wait_for_moderator?: boolean;
  end_on_moderator_leave?: boolean;
  hold_music?: string;
}

/** PATCH body (ConferenceParticipantUpdate.json); POST adds endpoint_id (ConferenceParticipantRequest.json). */
export interface ParticipantUpdateBody {
  muted?: boolean;
  deaf?: boolean;
  moderator?: boolean;
  hold?: boolean;
  gain_db?: number;
  output_gain_db?: number;
}

export interface ParticipantBody extends ParticipantUpdateBody {
  endpoint_id: string;
}

interface ParticipantParams {
  id: string;
  endpoint_id: string;
}

function createRequest(b: ConferenceCreateBody): CreateConferenceRequest {
  const r: CreateConferenceRequest = {};
  if (b.id !== undefined) r.id = b.id;
  if (b.sample_rate !== undefined) r.sampleRate = b.sample_rate;
  if (b.max_participants !== undefined) r.maxParticipants = b.max_participants;
  if (b.loudest_talkers !== undefined) r.loudestTalkers = b.loudest_talkers;
  if (b.entry_tone !== undefined) r.entryTone = b.entry_tone;
  if (b.exit_tone !== undefined) r.exitTone = b.exit_tone;
  if (b.wait_for_moderator !== undefined) r.waitForModerator = b.wait_for_moderator;
  if (b.end_on_moderator_leave !== undefined) r.endOnModeratorLeave = b.end_on_moderator_leave;
  if (b.hold_music !== undefined) r.holdMusic = b.hold_music;
  return r;
}

function changes(b: ParticipantUpdateBody): ParticipantChanges {
  const c: ParticipantChanges = {};
  if (b.muted !== undefined) c.muted = b.muted;
  if (b.deaf !== undefined) c.deaf = b.deaf;
  if (b.moderator !== undefined) c.moderator = b.moderator;
  if (b.hold !== undefined) c.hold = b.hold;
  if (b.gain_db !== undefined) c.gainDb = b.gain_db;
  if (b.output_gain_db !== undefined) c.outputGainDb = b.output_gain_db;
  return c;
}

/**
 * /conferences: N-1 mixed rooms on one media worker each (DESIGN.md, "Control API contract").
 * Participant endpoints must be created with `affinity` = the conference id; otherwise joining
 * answers 409 CONFERENCE_WORKER_MISMATCH.
 */
export function conferenceRoutes(conferences: ConferenceService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: ConferenceCreateBody }>(
      '/conferences',
      {
        schema: {
          tags: ['conferences'],
          summary: 'Create a conference (placed on the media worker of affinity = its id)',
          body: ref('ConferenceCreateRequest'),
          response: { 201: ref('Conference'), ...errorResponses(400, 401, 409, 500) },
        },
      },
      async (request, reply) => {
        const info = await conferences.create(createRequest(request.body ?? {}));
        return reply.code(201).send(conferenceBody(info));
      },
    );

    app.get(
      '/conferences',
      {
        schema: {
          tags: ['conferences'],
          summary: 'List conferences with their participants',
          response: { 200: ref('ConferenceList'), ...errorResponses(401, 500) },
        },
      },
      async () => (await conferences.list()).map(conferenceBody),
    );

    app.get<{ Params: IdParams }>(
      '/conferences/:id',
      {
        schema: {
          tags: ['conferences'],
          summary: 'One conference: options, participants with their state',
          params: ref('IdParams'),
          response: { 200: ref('Conference'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => conferenceBody(await conferences.get(request.params.id)),
    );

    app.delete<{ Params: IdParams }>(
      '/conferences/:id',
      {
        schema: {
          tags: ['conferences'],
          summary: 'End a conference; participants leave (reason ended), their endpoints stay open',
          params: ref('IdParams'),
          response: { 204: NO_CONTENT, ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request, reply) => {
        await conferences.delete(request.params.id);
        return reply.code(204).send();
      },
    );

    app.post<{ Params: IdParams; Body: ParticipantBody }>(
      '/conferences/:id/participants',
      {
        schema: {
          tags: ['conferences'],
          summary: 'Add an endpoint to a conference (409 when full, bridged, or on another worker)',
          params: ref('IdParams'),
          body: ref('ConferenceParticipantRequest'),
          response: { 201: ref('ConferenceParticipant'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request, reply) => {
        const req: AddParticipantRequest = { endpointId: request.body.endpoint_id, ...changes(request.body) };
        const p = await conferences.addParticipant(request.params.id, req);
        return reply.code(201).send(participantBody(p));
      },
    );

    app.patch<{ Params: ParticipantParams; Body: ParticipantUpdateBody }>(
      '/conferences/:id/participants/:endpoint_id',
      {
        schema: {
          tags: ['conferences'],
          summary: 'Mute, deafen, hold, gains, moderator flag of a participant',
          params: ref('ConferenceParticipantParams'),
          body: ref('ConferenceParticipantUpdate'),
          response: { 200: ref('ConferenceParticipant'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) =>
        participantBody(
          await conferences.updateParticipant(request.params.id, request.params.endpoint_id, changes(request.body)),
        ),
    );

    app.delete<{ Params: ParticipantParams }>(
      '/conferences/:id/participants/:endpoint_id',
      {
        schema: {
          tags: ['conferences'],
          summary: 'Kick a participant; its endpoint stays open',
          params: ref('ConferenceParticipantParams'),
          response: { 204: NO_CONTENT, ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request, reply) => {
        await conferences.removeParticipant(request.params.id, request.params.endpoint_id, 'kicked');
        return reply.code(204).send();
      },
    );
  };
}
