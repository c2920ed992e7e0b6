import { fileURLToPath } from 'node:url';
import {
  Server,
  ServerCredentials,
  credentials,
  type Client,
  loadPackageDefinition,
  setLogger,
  status,
  type GrpcObject,
  type Metadata,
  type ServiceDefinition,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { ValidationError } from '../../common/errors.ts';
import { moduleLogger, type Logger } from '../../common/logger.ts';
import type { Cluster } from '../../cluster/Cluster.ts';
import type { Config } from '../../config/config.ts';
import type { MediaApiRoot, MediaEngines } from '../../control/MediaControl.ts';
import { AmdService } from '../../control/services/AmdService.ts';
import type { CreateBridgeRequest, CreateEndpointRequest, UpdateEndpointRequest } from '../../control/types.ts';
import { tokenMatches } from '../http/auth.ts';
import type { EventSource } from '../../control/EventSource.ts';
import { grpcClusterRouter } from './clusterForwarding.ts';
import { type CreateStreamBody, startStreamRequest, streamBody } from '../http/routes/streams.ts';
import { EventStreams, type EventStreamsOptions, type EventsCall } from './EventStreams.ts';
import {
  addParticipantRequest,
  conferenceBody,
  conferenceMessage,
  createConferenceRequest,
  createEndpointBody,
  participantChanges,
  participantChangesBody,
  participantMessage,
  endpointMessage,
  playbackBody,
  playbackMessage,
  recordingBody,
  recordingMessage,
  amdMessage,
  amdRequestBody,
  startPlaybackRequest,
  startRecordingOptions,
  text,
  updateEndpointBody,
  type CreateBridgeMessage,
  type CreateConferenceMessage,
  type ParticipantMessage,
  type CreateEndpointMessage,
  type RefRequest,
  type SendDtmfMessage,
  type StartAmdMessage,
  type AmdRefMessage,
  type SetTalkDetectMessage,
  type StartFlowMessage,
  type StartPlaybackMessage,
  type StartStreamMessage,
  streamMessage,
  streamRequestBody,
  type StartRecordingMessage,
  type UpdateEndpointMessage,
} from './messages.ts';
import { GrpcStatusError, toGrpcError } from './status.ts';
import { talkDetectBody, talkDetectOptions, type TalkDetectBody } from '../talkDetectWire.ts';
import { RequestValidator } from './validate.ts';

/** schemas/grpc/media_server.proto: the contract clients generate their stubs from. */
export const PROTO_PATH = fileURLToPath(new URL('../../../schemas/grpc/media_server.proto', import.meta.url));

/**
 * proto-loader options shared by server and clients: snake_case field names as in the .proto
 * (the REST names), 64-bit integers as numbers (seqs and byte counts stay far below 2^53),
 * unset optional fields absent rather than defaulted, oneof members named.
 */
export const PROTO_OPTIONS: Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true };

/** The `mediaserver.v1` package loaded from PROTO_PATH. */
export function loadMediaServerProto(): GrpcObject {
  return loadPackageDefinition(loadSync(PROTO_PATH, PROTO_OPTIONS));
}

/** What StartFlow needs of the FlowService. */
export interface GrpcFlows {
  start(
    endpointId: string,
    flowName: string,
    variables: Record<string, unknown>,
  ): { id: string; flowName: string; version: number };
}

export interface GrpcServerOptions {
  /** The MediaServer: endpoints, bridges and the engine services it owns (an RPC whose service is absent is UNIMPLEMENTED). */
  control: MediaApiRoot;
  config: Pick<Config, 'apiHost' | 'grpcPort' | 'apiToken'>;
  logger: Logger;
  flows?: GrpcFlows;
  events?: EventStreamsOptions;
  /** What Events streams: the control plane's bus by default; in a cluster, the cluster stream. */
  eventSource?: EventSource;
  /** With REDIS_URL: calls naming resources other instances own are forwarded to them; CreateEndpoint is placed. */
  cluster?: Cluster;
}

export interface GrpcServerHandle {
  /** The bound port (the one chosen by the system when grpcPort is 0). */
  readonly port: number;
  /** Ends event streams, lets calls in flight finish for a moment, then stops. Idempotent. */
  close(): Promise<void>;
}

/** Server-to-client HTTP/2 pings (RFC 9113 section 6.7) this often on an idle connection. */
const KEEPALIVE_MS = 30_000;
/** Calls in flight get this long after close() before they are cut. */
const SHUTDOWN_GRACE_MS = 2000;

function bearer(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

function need<T>(service: T | undefined, name: string): T {
  if (service === undefined)
    throw new GrpcStatusError(status.UNIMPLEMENTED, 'UNIMPLEMENTED', `${name} is not enabled on this server`);
  return service;
}

/**
 * Starts the gRPC API (DESIGN.md, "Planes": REST, WebSocket events and gRPC over one control
 * plane) on config.apiHost:config.grpcPort. The `MediaServer` service mirrors the REST contract:
 * the same names, the same schema checks, the same error codes (status.ts).
 */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { control, config } = opts;
  const services: Partial<MediaEngines> = opts.control;
  const log = moduleLogger(opts.logger, 'grpc');
  // grpc-js writes its own diagnostics (a failed bind, a protocol error) to console.error; they
  // go to our JSON log instead. Its logger is process-wide: the last server started owns it.
  const joined = (args: unknown[]) => args.map(String).join(' ');
  setLogger({
    error: (...args: unknown[]) => log.warn({ grpc_js: joined(args) }, 'grpc-js'),
    info: (...args: unknown[]) => log.info({ grpc_js: joined(args) }, 'grpc-js'),
    debug: (...args: unknown[]) => log.debug({ grpc_js: joined(args) }, 'grpc-js'),
  });
  const validator = new RequestValidator();
  const streams = new EventStreams(opts.eventSource ?? control.events, log, opts.events);
  const token = config.apiToken;

  const pkg = loadMediaServerProto() as unknown as {
    mediaserver: { v1: { MediaServer: { service: ServiceDefinition } } };
  };
  const definition = pkg.mediaserver.v1.MediaServer.service;
  const ClientCtor = pkg.mediaserver.v1.MediaServer as unknown as new (
    address: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ) => Client;
  const router =
    opts.cluster === undefined
      ? null
      : grpcClusterRouter(opts.cluster, (address) => new ClientCtor(address, credentials.createInsecure()));

  const internal = (rpc: string) => (err: unknown) => log.error({ err, method: rpc }, 'gRPC call failed');

  function authorized(metadata: Metadata): boolean {
    // RFC 6750 section 2.1, as the HTTP API; tokenMatches compares in constant time
    return token === null || tokenMatches(token, bearer(metadata));
  }

  const unauthenticated = () =>
    toGrpcError(new GrpcStatusError(status.UNAUTHENTICATED, 'UNAUTHORIZED', 'missing or invalid bearer token'));

  /** A unary handler: auth, then `fn`, its result or its error mapped to a status. */
  function unary<Req>(rpc: string, fn: (req: Req, call: ServerUnaryCall<Req, unknown>) => Promise<unknown>) {
    return (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>): void => {
      if (!authorized(call.metadata)) {
        callback(unauthenticated());
        return;
      }
      let result: Promise<unknown>;
      if (router !== null) {
        const req = call.request as Record<string, unknown>;
        result = (async () => {
          const routed = await router.route(rpc, req, call.metadata);
          if (routed !== null) return routed.reply;
          try {
            const reply = await fn(call.request, call);
            await router.settle(rpc, req, reply);
            return reply;
          } catch (err) {
            await router.failed(rpc, req);
            throw err;
          }
        })();
      } else {
        try {
          result = fn(call.request, call);
        } catch (err) {
          result = Promise.reject(err);
        }
      }
      result.then(
        (reply) => callback(null, reply),
        (err: unknown) => {
          const e = toGrpcError(err, internal(rpc));
          if (e.code !== status.INTERNAL)
            log.debug({ method: rpc, status: status[e.code], details: e.details }, 'gRPC call rejected');
          callback(e);
        },
      );
    };
  }

  function ref(req: RefRequest): string {
    const id = text(req.id);
    validator.check('IdParams', { id });
    return id;
  }

  const implementation: UntypedServiceImplementation = {
    CreateEndpoint: unary<CreateEndpointMessage>('CreateEndpoint', async (req) => {
      const body = createEndpointBody(req);
      validator.check('CreateEndpointRequest', body);
      return endpointMessage(await control.createEndpoint(body as CreateEndpointRequest));
    }),
    GetEndpoint: unary<RefRequest>('GetEndpoint', async (req) => endpointMessage(await control.getEndpoint(ref(req)))),
    ListEndpoints: unary('ListEndpoints', async () => ({
      endpoints: (await control.listEndpoints()).map(endpointMessage),
    })),
    UpdateEndpoint: unary<UpdateEndpointMessage>('UpdateEndpoint', async (req) => {
      const id = ref(req);
      const body = updateEndpointBody(req);
      validator.check('UpdateEndpointRequest', body);
      return endpointMessage(await control.updateEndpoint(id, body as UpdateEndpointRequest));
    }),
    DeleteEndpoint: unary<RefRequest>('DeleteEndpoint', async (req) => {
      await control.deleteEndpoint(ref(req));
      return {};
    }),

    CreateBridge: unary<CreateBridgeMessage>('CreateBridge', async (req) => {
      const body = { endpoint_a: text(req.endpoint_a), endpoint_b: text(req.endpoint_b) };
      validator.check('CreateBridgeRequest', body);
      return control.createBridge(body as CreateBridgeRequest);
    }),
    GetBridge: unary<RefRequest>('GetBridge', async (req) => control.getBridge(ref(req))),
    ListBridges: unary('ListBridges', async () => ({ bridges: control.listBridges() })),
    DeleteBridge: unary<RefRequest>('DeleteBridge', async (req) => {
      await control.deleteBridge(ref(req));
      return {};
    }),
    Drain: unary('Drain', async () => control.drain()),
    GetCluster: unary('GetCluster', async () => {
      if (opts.cluster === undefined)
        throw new GrpcStatusError(
          status.FAILED_PRECONDITION,
          'NOT_CLUSTERED',
          'this instance runs alone (no REDIS_URL): it has no cluster',
        );
      const view = await opts.cluster.view();
      return {
        ...view,
        // proto3 optional: an unset grpc_url, not null
        members: view.members.map(({ grpc_url, ...m }) => (grpc_url === null ? m : { ...m, grpc_url })),
      };
    }),

    StartStream: unary<StartStreamMessage>('StartStream', async (req) => {
      const streams = need(services.streams, 'streams');
      const body = streamRequestBody(req);
      validator.check('CreateStreamRequest', body);
      return streamMessage(streamBody(await streams.start(startStreamRequest(body as unknown as CreateStreamBody))));
    }),
    GetStream: unary<RefRequest>('GetStream', async (req) =>
      streamMessage(streamBody(await need(services.streams, 'streams').get(ref(req)))),
    ),
    ListStreams: unary('ListStreams', async () => ({
      streams: need(services.streams, 'streams')
        .list()
        .map((r) => streamMessage(streamBody(r))),
    })),
    StopStream: unary<RefRequest>('StopStream', async (req) =>
      streamMessage(streamBody(await need(services.streams, 'streams').stop(ref(req)))),
    ),
    StartPlayback: unary<StartPlaybackMessage>('StartPlayback', async (req) => {
      const playback = need(services.playback, 'playback');
      const body = playbackBody(req);
      validator.check('CreatePlaybackRequest', body);
      if ((body.endpoint_id === undefined) === (body.conference_id === undefined)) {
        throw new ValidationError('INVALID_PLAYBACK', 'request must have exactly one of endpoint_id and conference_id');
      }
      return playbackMessage(await playback.start(startPlaybackRequest(body)));
    }),
    GetPlayback: unary<RefRequest>('GetPlayback', async (req) =>
      playbackMessage(need(services.playback, 'playback').get(ref(req))),
    ),
    ListPlaybacks: unary('ListPlaybacks', async () => ({
      playbacks: need(services.playback, 'playback').list().map(playbackMessage),
    })),
    StopPlayback: unary<RefRequest>('StopPlayback', async (req) =>
      playbackMessage(await need(services.playback, 'playback').stop(ref(req))),
    ),
    PausePlayback: unary<RefRequest>('PausePlayback', async (req) =>
      playbackMessage(await need(services.playback, 'playback').pause(ref(req))),
    ),
    ResumePlayback: unary<RefRequest>('ResumePlayback', async (req) =>
      playbackMessage(await need(services.playback, 'playback').resume(ref(req))),
    ),

    StartRecording: unary<StartRecordingMessage>('StartRecording', async (req) => {
      const recordings = need(services.recordings, 'recording');
      const body = recordingBody(req);
      validator.check('CreateRecordingRequest', body);
      return recordingMessage(await recordings.start(startRecordingOptions(body)));
    }),
    GetRecording: unary<RefRequest>('GetRecording', async (req) =>
      recordingMessage(await need(services.recordings, 'recording').status(ref(req))),
    ),
    ListRecordings: unary('ListRecordings', async () => ({
      recordings: need(services.recordings, 'recording').list().map(recordingMessage),
    })),
    StopRecording: unary<RefRequest>('StopRecording', async (req) =>
      need(services.recordings, 'recording').stop(ref(req)),
    ),
    PauseRecording: unary<RefRequest>('PauseRecording', async (req) =>
      recordingMessage(await need(services.recordings, 'recording').pause(ref(req))),
    ),
    ResumeRecording: unary<RefRequest>('ResumeRecording', async (req) =>
      recordingMessage(await need(services.recordings, 'recording').resume(ref(req))),
    ),

    CreateConference: unary<CreateConferenceMessage>('CreateConference', async (req) => {
      const conferences = need(services.conferences, 'conference');
      const body = conferenceBody(req);
      validator.check('ConferenceCreateRequest', body);
      return conferenceMessage(await conferences.create(createConferenceRequest(body)));
    }),
    GetConference: unary<RefRequest>('GetConference', async (req) =>
      conferenceMessage(await need(services.conferences, 'conference').get(ref(req))),
    ),
    ListConferences: unary('ListConferences', async () => ({
      conferences: (await need(services.conferences, 'conference').list()).map(conferenceMessage),
    })),
    DeleteConference: unary<RefRequest>('DeleteConference', async (req) => {
      await need(services.conferences, 'conference').delete(ref(req));
      return {};
    }),
    AddParticipant: unary<ParticipantMessage>('AddParticipant', async (req) => {
      const conferences = need(services.conferences, 'conference');
      const id = ref(req);
      const body = { endpoint_id: text(req.endpoint_id), ...participantChangesBody(req) };
      validator.check('ConferenceParticipantRequest', body);
      return participantMessage(await conferences.addParticipant(id, addParticipantRequest(body)));
    }),
    UpdateParticipant: unary<ParticipantMessage>('UpdateParticipant', async (req) => {
      const conferences = need(services.conferences, 'conference');
      const params = { id: text(req.id), endpoint_id: text(req.endpoint_id) };
      validator.check('ConferenceParticipantParams', params);
      const body = participantChangesBody(req);
      validator.check('ConferenceParticipantUpdate', body);
      return participantMessage(
        await conferences.updateParticipant(params.id, params.endpoint_id, participantChanges(body)),
      );
    }),
    RemoveParticipant: unary<ParticipantMessage>('RemoveParticipant', async (req) => {
      const conferences = need(services.conferences, 'conference');
      const params = { id: text(req.id), endpoint_id: text(req.endpoint_id) };
      validator.check('ConferenceParticipantParams', params);
      await conferences.removeParticipant(params.id, params.endpoint_id, 'kicked');
      return {};
    }),

    SendDtmf: unary<SendDtmfMessage>('SendDtmf', async (req) => {
      const dtmf = need(services.dtmf, 'dtmf');
      const id = text(req.endpoint_id);
      validator.check('IdParams', { id }, 'request/endpoint_id');
      const body: Record<string, unknown> = { digits: text(req.digits) };
      if (req.duration_ms !== undefined && req.duration_ms !== null) body.duration_ms = req.duration_ms;
      validator.check('DtmfRequest', body);
      const options = body.duration_ms === undefined ? {} : { durationMs: body.duration_ms as number };
      // as REST's 202: accepted at once, the outcome is the dtmf.sent / dtmf.failed event
      return dtmf.start(id, body.digits as string, options);
    }),

    StartAmd: unary<StartAmdMessage>('StartAmd', async (req) => {
      const amd = need(services.amd, 'amd');
      const id = text(req.endpoint_id as string | null | undefined);
      validator.check('IdParams', { id }, 'request/endpoint_id');
      const body = amdRequestBody(req);
      validator.check('AmdRequest', body);
      return amdMessage(await amd.start(id, AmdService.parseParameters(body)));
    }),
    GetAmd: unary<AmdRefMessage>('GetAmd', async (req) => {
      const params = { id: text(req.endpoint_id), amd_id: text(req.id) };
      validator.check('AmdParams', params);
      return amdMessage(need(services.amd, 'amd').get(params.amd_id, params.id));
    }),
    StopAmd: unary<AmdRefMessage>('StopAmd', async (req) => {
      const params = { id: text(req.endpoint_id), amd_id: text(req.id) };
      validator.check('AmdParams', params);
      return amdMessage(await need(services.amd, 'amd').stop(params.amd_id, params.id));
    }),
    SetTalkDetect: unary<SetTalkDetectMessage>('SetTalkDetect', async (req) => {
      const talk = need(services.talk, 'talk detection');
      const id = text(req.endpoint_id);
      validator.check('IdParams', { id }, 'request/endpoint_id');
      const body: Record<string, unknown> = {};
      for (const k of ['threshold_dbfs', 'silence_threshold_dbfs', 'min_talk_ms', 'silence_ms'] as const) {
        const v = req[k];
        if (v !== undefined && v !== null) body[k] = v;
      }
      validator.check('TalkDetectRequest', body);
      return talkDetectBody(await talk.configure(id, talkDetectOptions(body as TalkDetectBody)));
    }),
    GetTalkDetect: unary<RefRequest>('GetTalkDetect', async (req) =>
      talkDetectBody(await need(services.talk, 'talk detection').get(ref(req))),
    ),
    ClearTalkDetect: unary<RefRequest>('ClearTalkDetect', async (req) => {
      await need(services.talk, 'talk detection').configure(ref(req), null);
      return {};
    }),

    StartFlow: unary<StartFlowMessage>('StartFlow', async (req) => {
      const flows = need(opts.flows, 'flows');
      const id = text(req.endpoint_id);
      validator.check('IdParams', { id }, 'request/endpoint_id');
      const flow = text(req.flow);
      if (flow.length === 0 || flow.length > 64)
        throw new ValidationError('VALIDATION_ERROR', 'request/flow must be 1-64 characters');
      let variables: Record<string, unknown> = {};
      if (req.variables_json !== undefined && req.variables_json !== null && req.variables_json !== '') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(req.variables_json);
        } catch {
          throw new ValidationError('VALIDATION_ERROR', 'request/variables_json is not valid JSON');
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          throw new ValidationError('VALIDATION_ERROR', 'request/variables_json must be a JSON object');
        }
        variables = parsed as Record<string, unknown>;
      }
      const s = flows.start(id, flow, variables);
      return { session_id: s.id, flow: s.flowName, version: s.version };
    }),

    Events: (call: EventsCall): void => {
      if (!authorized(call.metadata)) {
        call.emit('error', unauthenticated());
        return;
      }
      streams.open(call);
    },
  };

  const server = new Server({
    // the HTTP API's body limit: an SDP is at most 64 KiB, a playlist 200 items
    'grpc.max_receive_message_length': 1024 * 1024,
    // like the WebSocket route's pings: a peer that vanished without closing releases its Events stream
    'grpc.keepalive_time_ms': KEEPALIVE_MS,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.apiHost}:${config.grpcPort ?? 0}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
  log.info({ grpc: `${config.apiHost}:${port}` }, 'gRPC API listening');

  let closing: Promise<void> | null = null;
  return {
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        streams.close();
        router?.close();
        // forceShutdown() destroys the sessions at once; resolving here does not depend on
        // tryShutdown's callback, which waits for every session to report closed
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
