import type { EventBus } from './EventBus.ts';
import type { AmdService } from './services/AmdService.ts';
import type { ConferenceService } from './services/ConferenceService.ts';
import type { DtmfService } from './services/DtmfService.ts';
import type { PlaybackService } from './services/PlaybackService.ts';
import type { RecordingService } from './services/RecordingService.ts';
import type { SpeechService } from './services/SpeechService.ts';
import type { TalkService } from './services/TalkService.ts';
import type { StreamService } from './services/StreamService.ts';
import type {
  BridgeInfo,
  CreateBridgeRequest,
  CreateEndpointRequest,
  EndpointInfo,
  UpdateEndpointRequest,
} from './types.ts';

export interface DrainStatus {
  draining: boolean;
  /** Endpoints (call legs) still open. */
  endpoints: number;
}

/**
 * What the API layer (REST, WebSocket, gRPC) needs from the control plane. `MediaServer`
 * implements it; routes depend on this interface only. Errors are the classes of
 * src/common/errors.ts (NotFoundError 'ENDPOINT_NOT_FOUND', CapacityError 'NO_PORTS_AVAILABLE',
 * ValidationError 'INVALID_SDP', UnsupportedError 'NO_COMMON_CODEC', ...).
 */
export interface MediaControl {
  readonly events: EventBus;

  createEndpoint(req: CreateEndpointRequest): Promise<EndpointInfo>;
  listEndpoints(): Promise<EndpointInfo[]>;
  getEndpoint(id: string): Promise<EndpointInfo>;
  updateEndpoint(id: string, req: UpdateEndpointRequest): Promise<EndpointInfo>;
  deleteEndpoint(id: string): Promise<void>;

  createBridge(req: CreateBridgeRequest): Promise<BridgeInfo>;
  listBridges(): BridgeInfo[];
  getBridge(id: string): BridgeInfo;
  deleteBridge(id: string): Promise<void>;

  /**
   * Graceful drain (idempotent): no new endpoints, flows or conferences (503 DRAINING), /ready
   * 503, calls in progress go on. The process entry exits once they end or the timeout passes.
   */
  drain(): DrainStatus;
  drainStatus(): DrainStatus;

  /** Liveness: the control plane answers. */
  isLive(): boolean;
  /** Readiness: every media worker up, a port pair free, not draining or shutting down. */
  isReady(): boolean;
  /** Prometheus exposition text, gathered from the control plane and every worker. */
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** The engine services a MediaServer owns; the APIs register the routes of those present. */
export interface MediaEngines {
  readonly playback: PlaybackService;
  readonly recordings: RecordingService;
  readonly conferences: ConferenceService;
  readonly dtmf: DtmfService;
  readonly amd: AmdService;
  readonly talk: TalkService;
  readonly speech: SpeechService;
  readonly streams: StreamService;
}

/** What the APIs are built from: the control plane, with its engines (a test's fake may have none). */
export type MediaApiRoot = MediaControl & Partial<MediaEngines>;
