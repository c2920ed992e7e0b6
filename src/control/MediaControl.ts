import type { EventBus } from './EventBus.ts';
import type { ConferenceService } from './services/ConferenceService.ts';
import type { DtmfService } from './services/DtmfService.ts';
import type { PlaybackService } from './services/PlaybackService.ts';
import type { RecordingService } from './services/RecordingService.ts';
import type {
  BridgeInfo,
  CreateBridgeRequest,
  CreateEndpointRequest,
  EndpointInfo,
  UpdateEndpointRequest,
} from './types.ts';

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

  /** Liveness: the control plane answers. */
  isLive(): boolean;
  /** Readiness: every media worker is up and the server is not shutting down. */
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
}

/** What the APIs are built from: the control plane, with its engines (a test's fake may have none). */
export type MediaApiRoot = MediaControl & Partial<MediaEngines>;
