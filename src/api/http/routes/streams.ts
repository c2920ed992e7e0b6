import type { FastifyInstance } from 'fastify';
import type { StartStreamRequest, StreamRecord, StreamService } from '../../../control/services/StreamService.ts';
import { ref } from '../schemas.ts';
import { errorResponses, type IdParams } from './common.ts';

/** POST /streams body (schemas/api/CreateStreamRequest.json). */
export interface CreateStreamBody {
  endpoint_id?: string;
  bridge_id?: string;
  conference_id?: string;
  url: string;
  tracks?: 'inbound' | 'outbound' | 'both';
  encoding?: 'pcmu' | 'l16';
  sample_rate?: 8000 | 16000 | 24000;
  bidirectional?: boolean;
  mode?: 'twilio' | 'binary';
  metadata?: Record<string, string>;
  headers?: Record<string, string>;
  token?: string;
  connect_timeout_ms?: number;
  reconnect?: { max_attempts?: number; delay_ms?: number };
  max_queue_ms?: number;
  call_sid?: string;
}

/** A URL as replies show it: no credentials, no query (where a token could be). */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}

/** The Stream reply shape (snake_case). */
export function streamBody(r: StreamRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: r.id,
    ...(r.endpointId !== undefined ? { endpoint_id: r.endpointId } : {}),
    ...(r.bridgeId !== undefined ? { bridge_id: r.bridgeId } : {}),
    ...(r.conferenceId !== undefined ? { conference_id: r.conferenceId } : {}),
    url: shownUrl(r.url),
    tracks: r.tracks,
    encoding: r.encoding,
    sample_rate: r.sampleRate,
    bidirectional: r.bidirectional,
    mode: r.mode,
    metadata: r.metadata,
    state: r.state,
    created_at: r.createdAt,
  };
  if (r.stoppedAt !== undefined) out.stopped_at = r.stoppedAt;
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.result !== undefined) out.result = r.result;
  if (r.error !== undefined) out.error = r.error;
  const s = r.stats;
  if (s !== undefined) {
    out.stats = {
      frames_sent: s.framesSent,
      frames_dropped: s.framesDropped,
      frames_received: s.framesReceived,
      played_ms: s.playedMs,
      queued_ms: s.queuedMs,
      queue_overruns: s.queueOverruns,
      overrun_samples: s.overrunSamples,
      clock_skipped_samples: s.clockSkippedSamples,
      marks_received: s.marksReceived,
      marks_acknowledged: s.marksAcknowledged,
      clears: s.clears,
      dtmf_sent: s.dtmfSent,
      connects: s.connects,
      connect_failures: s.connectFailures,
      bad_messages: s.badMessages,
    };
  }
  return out;
}

export function startStreamRequest(b: CreateStreamBody): StartStreamRequest {
  const req: StartStreamRequest = { url: b.url };
  if (b.endpoint_id !== undefined) req.endpointId = b.endpoint_id;
  if (b.bridge_id !== undefined) req.bridgeId = b.bridge_id;
  if (b.conference_id !== undefined) req.conferenceId = b.conference_id;
  if (b.tracks !== undefined) req.tracks = b.tracks;
  if (b.encoding !== undefined) req.encoding = b.encoding;
  if (b.sample_rate !== undefined) req.sampleRate = b.sample_rate;
  if (b.bidirectional !== undefined) req.bidirectional = b.bidirectional;
  if (b.mode !== undefined) req.mode = b.mode;
  if (b.metadata !== undefined) req.metadata = b.metadata;
  if (b.headers !== undefined) req.headers = b.headers;
  if (b.token !== undefined) req.token = b.token;
  if (b.connect_timeout_ms !== undefined) req.connectTimeoutMs = b.connect_timeout_ms;
  if (b.reconnect?.max_attempts !== undefined) req.reconnectAttempts = b.reconnect.max_attempts;
  if (b.reconnect?.delay_ms !== undefined) req.reconnectDelayMs = b.reconnect.delay_ms;
  if (b.max_queue_ms !== undefined) req.maxQueueMs = b.max_queue_ms;
  if (b.call_sid !== undefined) req.callSid = b.call_sid;
  return req;
}

/** /streams: media streams to and from voice bots (README, "Voice bots / media streams"). */
export function streamRoutes(streams: StreamService): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: CreateStreamBody }>(
      '/streams',
      {
        schema: {
          tags: ['streams'],
          summary:
            'Stream an endpoint (or a bridge) to a bot over a WebSocket; answers at once (state connecting), stream.started follows',
          body: ref('CreateStreamRequest'),
          response: { 201: ref('Stream'), ...errorResponses(400, 401, 404, 409, 500) },
        },
      },
      async (request, reply) => {
        const record = await streams.start(startStreamRequest(request.body));
        return reply.code(201).send(streamBody(record));
      },
    );

    app.get(
      '/streams',
      {
        schema: {
          tags: ['streams'],
          summary: 'List media streams (running, and the most recent stopped ones)',
          response: { 200: ref('StreamList'), ...errorResponses(401, 500) },
        },
      },
      async () => streams.list().map(streamBody),
    );

    app.get<{ Params: IdParams }>(
      '/streams/:id',
      {
        schema: {
          tags: ['streams'],
          summary: 'One media stream: state, live counters (frames, drops, queue, overruns, marks)',
          params: ref('IdParams'),
          response: { 200: ref('Stream'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => streamBody(await streams.get(request.params.id)),
    );

    app.delete<{ Params: IdParams }>(
      '/streams/:id',
      {
        schema: {
          tags: ['streams'],
          summary: 'Stop a media stream: the bot gets stop, the socket closes (reason stopped)',
          params: ref('IdParams'),
          response: { 200: ref('Stream'), ...errorResponses(400, 401, 404, 500) },
        },
      },
      async (request) => streamBody(await streams.stop(request.params.id)),
    );
  };
}
