import { randomUUID, randomInt } from 'node:crypto';
import type { Config } from '../config/config.ts';
import { CapacityError, InvalidStateError, NotFoundError, ValidationError } from '../common/errors.ts';
import { moduleLogger, type Logger } from '../common/logger.ts';
import type {
  EndpointMediaConfig,
  NotificationType,
  PrepService,
  StartPrep,
  WorkerEndpointStats,
  WorkerMethod,
  WorkerMetrics,
  WorkerNotifications,
  WorkerRequests,
  WorkerSettings,
} from '../protocol/index.ts';
import { EventBus } from './EventBus.ts';
import { wire } from './events.ts';
import type { DrainStatus, MediaControl, MediaEngines } from './MediaControl.ts';
import { BRIDGE_RING_BYTES } from '../protocol/bridge.ts';
import { SpscRing } from '../common/SpscRing.ts';
import { PortPool } from './PortPool.ts';
import { OwnDestinations } from './OwnDestinations.ts';
import { LocalAddress } from './LocalAddress.ts';
import { parseRemoteSdp } from './sdp/parseRemoteSdp.ts';
import { createAnswer } from './sdp/createAnswer.ts';
import { createOffer } from './sdp/createOffer.ts';
import { processAnswer } from './sdp/processAnswer.ts';
import { ConferenceService } from './services/ConferenceService.ts';
import { AmdService } from './services/AmdService.ts';
import { DtmfService } from './services/DtmfService.ts';
import { PlaybackService } from './services/PlaybackService.ts';
import { StreamService } from './services/StreamService.ts';
import { RecordingService } from './services/RecordingService.ts';
import { SpeechService } from './services/SpeechService.ts';
import { TalkService } from './services/TalkService.ts';
import type { LocalMediaOptions, NegotiatedMedia } from './sdp/types.ts';
import type {
  BridgeInfo,
  CreateBridgeRequest,
  CreateEndpointRequest,
  EndpointDtmfOptions,
  Direction,
  EndpointInfo,
  EndpointStats,
  UpdateEndpointRequest,
} from './types.ts';
import type { WorkerHandle } from './WorkerHandle.ts';
import { WorkerPool } from './WorkerPool.ts';
import { ServerMetrics } from './metrics.ts';
import { KeyedListeners } from '../common/KeyedListeners.ts';
import { resolveUdpIo, type UdpIo } from '../common/nativeUdp.ts';

interface EndpointRecord {
  id: string;
  worker: WorkerHandle;
  rtpPort: number;
  rtcpPort: number;
  affinity: string | null;
  codecs: string[];
  direction: Direction;
  /** 'offer': we sent an offer and wait for the answer; 'answer': we answered theirs. */
  role: 'offer' | 'answer';
  sdp: string;
  sessionId: string;
  sessionVersion: number;
  lastRemoteSdp: string | null;
  media: NegotiatedMedia | null;
  state: 'offered' | 'active' | 'closed';
  bridgeId: string | null;
  createdAt: string;
  /** Remote address as latched by the worker (NAT correction). */
  latched: { ip: string; rtpPort: number } | null;
  /** The address our SDP announces to this peer (c=). */
  localIp: string;
  /** The leg's outbound stream state in shared memory: a cross-worker bridge's peer relays into it. */
  sender: SharedArrayBuffer | null;
}

interface BridgeRecord {
  id: string;
  a: EndpointRecord;
  b: EndpointRecord;
  mode: 'relay' | 'transcode';
  createdAt: string;
}

/**
 * Why a call leg is over, or as good as over: closed (deleted, worker_died, shutdown), or its
 * peer went quiet (media_timeout) or said goodbye (rtcp_bye) while the endpoint stays.
 */
export type EndpointEndCause = 'deleted' | 'worker_died' | 'shutdown' | 'media_timeout' | 'rtcp_bye';

/** What MediaServer is built with beside its configuration: the tiers it starts but does not import. */
export interface MediaServerParts {
  /** Starts the audio prep tier (TTS, decoding, cache): AudioPrepPool.start. */
  prep: StartPrep;
}

/** How a bridge ended; `endpointId`: the leg whose deletion ended it. */
export interface BridgeEnd {
  reason: 'deleted' | 'endpoint_deleted' | 'worker_died';
  endpointId?: string;
}

const EMPTY_STATS: EndpointStats = {
  packets_received: 0,
  packets_sent: 0,
  bytes_received: 0,
  bytes_sent: 0,
  packets_lost: 0,
  fraction_lost: 0,
  jitter_ms: 0,
  rtt_ms: null,
  mos: 4.41,
  dropped: {},
};

/**
 * The control plane's root: endpoints and bridges as handles over media workers, port
 * allocation, SDP offer/answer, placement by affinity, worker supervision and the event bus;
 * it owns the engine services (playback, recordings, conferences, DTMF), and close() reaches them.
 */
export class MediaServer implements MediaControl, MediaEngines {
  readonly events: EventBus;
  readonly config: Config;
  readonly conferences: ConferenceService;
  readonly playback: PlaybackService;
  readonly recordings: RecordingService;
  readonly dtmf: DtmfService;
  readonly amd: AmdService;
  readonly talk: TalkService;
  readonly speech: SpeechService;
  readonly streams: StreamService;
  readonly #logger: Logger;
  readonly #ports: PortPool;
  /** Media destinations that would be this server itself (SDP destination policy). */
  readonly #own: OwnDestinations;
  readonly #pool: WorkerPool;
  /** UDP_IO as this installation can honour it (logged at start). */
  readonly #udpIo: { io: UdpIo; detail: string };
  /** TTS and decode threads with the cache of prepared audio, shared by every media worker. */
  #prep: PrepService | null = null;
  readonly #startPrep: StartPrep;
  readonly #endpoints = new Map<string, EndpointRecord>();
  readonly #bridges = new Map<string, BridgeRecord>();
  /** Per endpoint and per bridge: their end reaches their own listeners only (flow sessions). */
  readonly #endpointEnds = new KeyedListeners<EndpointEndCause>();
  readonly #bridgeEnds = new KeyedListeners<BridgeEnd>();
  #closing = false;
  #started = false;
  #draining = false;
  #onDrain: () => void = () => {};
  readonly #drainRequested = new Promise<void>((resolve) => {
    this.#onDrain = resolve;
  });
  readonly #idleWaiters = new Set<() => void>();
  /** What our SDP announces; resolved (and the bind address checked) in start(). */
  #address: LocalAddress | null = null;
  readonly #counters = { endpointsCreated: 0, bridgesCreated: 0, workerRestarts: 0, mediaTimeouts: 0 };
  readonly #metrics: ServerMetrics;

  /** `parts.prep` starts the audio prep tier (main.ts: AudioPrepPool.start); the control plane imports no media code. */
  constructor(config: Config, logger: Logger, parts: MediaServerParts) {
    this.config = config;
    this.#startPrep = parts.prep;
    this.#logger = moduleLogger(logger, 'media-server');
    this.events = new EventBus(config.eventBufferSize);
    this.#ports = new PortPool(config.rtpPortStart, config.rtpPortEnd);
    this.conferences = new ConferenceService(this);
    this.playback = new PlaybackService(this, { conferences: this.conferences });
    this.recordings = new RecordingService(this, this.conferences);
    this.dtmf = new DtmfService(this);
    this.amd = new AmdService(this);
    this.talk = new TalkService(this);
    this.speech = new SpeechService(this, { defaultUrl: config.speechRecognizerUrl });
    this.streams = new StreamService(this);
    this.#own = new OwnDestinations(config, (port) => this.#ports.holds(port));
    this.#udpIo = resolveUdpIo(config.udpIo);
    this.#pool = new WorkerPool(this.#logger, workerSettings(config, this.#udpIo.io), {
      onNotification: (type, payload) => this.#deliver(type, payload),
      onWorkerDied: (handle, code, error) => this.#onWorkerDied(handle, code, error),
      onWorkerRestarted: (index) => this.events.publish('worker.started', { worker: index }),
    });
    this.#metrics = new ServerMetrics(
      async () => ({
        endpoints: this.#endpoints.size,
        bridges: this.#bridges.size,
        portsAvailable: this.#ports.available,
        portsTotal: this.#ports.capacity,
        counters: this.#counters,
        workers: await this.workerMetrics(),
        eventSeq: this.events.lastSeq,
        ...(this.#prep !== null ? { prep: this.#prep.stats() } : {}),
      }),
      this.events,
    );
  }

  /** Starts the media workers; resolves when all are ready. */
  async start(): Promise<void> {
    this.#address = await LocalAddress.resolve({ rtpBindIp: this.config.rtpBindIp, publicIp: this.config.publicIp });
    // Started before the workers: espeak-ng loads and warms while they start.
    this.#prep = this.#startPrep({
      threads: this.config.ttsThreads,
      cacheBytes: this.config.ttsCacheBytes,
      fetchAllow: this.config.mediaFetchAllow,
      fetchDeny: this.config.mediaFetchDeny,
    });
    await Promise.all([this.#pool.start(this.config.mediaWorkers, this.#prep), this.#prep.ready()]);
    this.#started = true;
    this.#logger.info(
      {
        workers: this.#pool.size,
        ports: this.#ports.capacity,
        bind: this.config.rtpBindIp,
        udpIo: this.#udpIo.detail,
        announce: this.#address.perPeer
          ? `the interface routing to each peer (offers: ${this.#address.default})`
          : this.#address.default,
      },
      'media server started',
    );
  }

  /** A port this process listens on that the configuration did not know (API_PORT=0): never a media destination. */
  addListeningPort(port: number): void {
    this.#own.addListeningPort(port);
  }

  get workerCount(): number {
    return this.#pool.size;
  }

  /**
   * Sends an engine request (`playback.start`, ...) to a worker: the one owning the endpoint
   * (`workerOf`), or the one a conference was placed on (`workerForAffinity`).
   */
  async request<M extends WorkerMethod>(
    workerIndex: number,
    method: M,
    params: WorkerRequests[M]['params'],
  ): Promise<WorkerRequests[M]['result']> {
    this.#assertRunning();
    const worker = this.#pool.get(workerIndex);
    if (!worker) throw new NotFoundError('WORKER_NOT_FOUND', `no media worker ${workerIndex}`);
    return worker.request(method, params);
  }

  /** The worker index an endpoint lives on (for engines that need co-location). */
  workerOf(endpointId: string): number {
    return this.#endpoint(endpointId).worker.index;
  }

  /** The worker an affinity key maps to (same rule as endpoint placement). */
  workerForAffinity(affinity: string): number {
    return this.#pool.place(affinity);
  }

  /**
   * Calls `listener` when the endpoint's call is over: once when it closes (then forgotten), and
   * on a media timeout or an RTCP BYE. Returns the removal.
   */
  onEndpointEnd(endpointId: string, listener: (cause: EndpointEndCause) => void): () => void {
    return this.#endpointEnds.add(endpointId, listener);
  }

  /** Calls `listener` once when the bridge ends. Returns the removal. */
  onBridgeEnd(bridgeId: string, listener: (end: BridgeEnd) => void): () => void {
    return this.#bridgeEnds.add(bridgeId, listener);
  }

  /** The affinity key an endpoint was created with (cluster ownership), null without one or when unknown. */
  endpointAffinity(id: string): string | null {
    return this.#endpoints.get(id)?.affinity ?? null;
  }

  /** What a cluster member publishes about its load: open endpoints and RTP port pairs. */
  capacity(): { endpoints: number; portPairsFree: number; portPairs: number } {
    return { endpoints: this.#endpoints.size, portPairsFree: this.#ports.available, portPairs: this.#ports.capacity };
  }

  /** Whether an endpoint exists (engines validating ids). */
  hasEndpoint(id: string): boolean {
    return this.#endpoints.has(id);
  }

  /** Hands a worker notification to its owner, which updates its state and speaks in public. */
  #deliver<T extends NotificationType>(type: T, payload: WorkerNotifications[T]): void {
    if (!Object.hasOwn(this.#owners, type)) {
      this.#logger.warn({ type }, 'unknown worker notification');
      return;
    }
    this.#owners[type](payload);
  }

  /** The owner of each notification (mediasoup's delivery by handler id, here by name). */
  readonly #owners: { [T in NotificationType]: (payload: WorkerNotifications[T]) => void } = {
    'endpoint.media_timeout': (n) => {
      this.#counters.mediaTimeouts++;
      this.events.publish('endpoint.media_timeout', wire.mediaTimeout(n));
      this.#endpointEnds.call(n.id, 'media_timeout');
    },
    'endpoint.remote_latched': (n) => {
      const ep = this.#endpoints.get(n.id);
      if (ep && n.kind === 'rtp') ep.latched = { ip: n.ip, rtpPort: n.port };
      this.events.publish('endpoint.remote_latched', wire.remoteLatched(n));
    },
    'endpoint.rtcp_bye': (n) => {
      this.events.publish('endpoint.rtcp_bye', wire.rtcpBye(n));
      this.#endpointEnds.call(n.id, 'rtcp_bye');
    },
    'worker.error': (n) => this.#logger.error({ message: n.message }, 'media worker error'),
    'endpoint.dtmf': (n) => this.dtmf.onPressed(n),
    'amd.finished': (n) => this.amd.onFinished(n),
    'playback.started': (n) => this.playback.onStarted(n),
    'playback.finished': (n) => this.playback.onFinished(n),
    'recording.started': (n) => this.recordings.onStarted(n),
    'recording.finished': (n) => this.recordings.onFinished(n),
    'conference.created': (n) => this.conferences.onNotification('conference.created', n),
    'conference.participant.joined': (n) => this.conferences.onNotification('conference.participant.joined', n),
    'conference.participant.left': (n) => this.conferences.onNotification('conference.participant.left', n),
    'conference.participant.updated': (n) => this.conferences.onNotification('conference.participant.updated', n),
    'conference.talking.started': (n) => this.conferences.onNotification('conference.talking.started', n),
    'conference.talking.stopped': (n) => this.conferences.onNotification('conference.talking.stopped', n),
    'conference.ended': (n) => this.conferences.onNotification('conference.ended', n),
    'talk.started': (n) => this.talk.onStarted(n),
    'talk.stopped': (n) => this.talk.onStopped(n),
    'speech.finished': (n) => this.speech.onFinished(n),
    'stream.started': (n) => this.streams.onStarted(n),
    'stream.stopped': (n) => this.streams.onStopped(n),
    'stream.error': (n) => this.streams.onError(n),
  };

  /** A worker died: what lived there is gone (the pool restarts it). */
  #onWorkerDied(handle: WorkerHandle, code: number, error: Error | null): void {
    if (this.#closing) return;
    const index = handle.index;
    this.#logger.error(
      { worker: index, code, err: error ?? undefined },
      'media worker died; closing its endpoints and restarting it',
    );
    this.events.publish('worker.died', { worker: index, code, error: error ? error.message : null });
    // What lived there ends without a notification: its owners are told.
    this.playback.workerDied(index);
    this.recordings.workerDied(index);
    this.conferences.workerDied(index);
    this.speech.workerDied(index);
    this.streams.workerDied(index);
    for (const ep of [...this.#endpoints.values()]) {
      if (ep.worker !== handle) continue;
      if (ep.bridgeId) this.#forgetBridge(ep.bridgeId, 'worker_died');
      this.#forgetEndpoint(ep, 'worker_died');
    }
    this.#counters.workerRestarts++;
  }

  // ---- endpoints ----------------------------------------------------------------------------

  async createEndpoint(req: CreateEndpointRequest): Promise<EndpointInfo> {
    this.assertAdmitting();
    // The caller's list as given; the configured preference always carries telephone-event.
    const codecs =
      req.codecs && req.codecs.length > 0 ? req.codecs.map((c) => c.toLowerCase()) : [...this.config.codecs];
    if (!req.codecs && !codecs.includes('telephone-event')) codecs.push('telephone-event');
    const id = randomUUID();
    const workerIndex = this.#pool.placeLeg(id, req.affinity, req.remote_sdp === undefined);
    const worker = this.#pool.get(workerIndex)!;
    let ports: { rtpPort: number; rtcpPort: number; sender: SharedArrayBuffer | null };
    try {
      ports = await this.#bindPorts(worker, id);
    } catch (err) {
      this.#pool.settled(id);
      throw err;
    }
    const { rtpPort, rtcpPort, sender } = ports;
    worker.endpointCount++;
    const record: EndpointRecord = {
      id,
      worker,
      rtpPort,
      rtcpPort,
      affinity: req.affinity ?? null,
      codecs,
      direction: req.direction ?? 'sendrecv',
      role: req.remote_sdp ? 'answer' : 'offer',
      sdp: '',
      sessionId: String(randomInt(1, 2 ** 47)),
      sessionVersion: 1,
      lastRemoteSdp: null,
      media: null,
      state: 'offered',
      bridgeId: null,
      createdAt: new Date().toISOString(),
      latched: null,
      localIp: await this.#announcedTo(req.remote_sdp),
      sender,
    };
    try {
      // before the media: a digit in the first packets is heard
      if (req.dtmf !== undefined) await this.#applyDtmfOptions(record, req.dtmf);
      if (req.remote_sdp !== undefined) {
        const answer = createAnswer(req.remote_sdp, this.#local(record));
        this.#own.check(answer.media.remote);
        record.sdp = answer.sdp;
        record.sessionVersion = answer.sessionVersion;
        record.lastRemoteSdp = req.remote_sdp;
        await this.#applyMedia(record, answer.media);
      } else {
        const offer = createOffer(this.#local(record));
        record.sdp = offer.sdp;
        record.sessionVersion = offer.sessionVersion;
      }
    } catch (err) {
      this.#pool.settled(id);
      worker.endpointCount--;
      await worker.request('endpoint.close', { id }).catch(() => {});
      this.#ports.release(rtpPort);
      throw err;
    }
    this.#endpoints.set(id, record);
    this.#counters.endpointsCreated++;
    this.events.publish('endpoint.created', {
      endpoint_id: id,
      worker: workerIndex,
      rtp_port: rtpPort,
      state: record.state,
    });
    return this.#info(record, null);
  }

  /** Our SDP's address for a peer; an unparsable offer gets the default (createAnswer refuses it). */
  async #announcedTo(remoteSdp: string | undefined): Promise<string> {
    const address = this.#address!;
    if (remoteSdp === undefined || !address.perPeer) return address.default;
    let peer: string | null = null;
    try {
      peer = parseRemoteSdp(remoteSdp).media.find((m) => m.type === 'audio')?.connectionIp ?? null;
    } catch {
      peer = null;
    }
    return address.forPeer(peer);
  }

  /** Takes port pairs until one binds (another process may hold a port of our range). */
  async #bindPorts(
    worker: WorkerHandle,
    id: string,
  ): Promise<{ rtpPort: number; rtcpPort: number; sender: SharedArrayBuffer | null }> {
    const failed: number[] = [];
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const pair = this.#ports.acquire();
        try {
          const { sender } = await worker.request('endpoint.create', {
            id,
            ip: this.config.rtpBindIp,
            rtpPort: pair.rtpPort,
            rtcpPort: pair.rtcpPort,
            mediaTimeoutMs: this.config.mediaTimeoutMs,
            cname: `${id}@media-server-core`,
            strictSource: this.config.strictSource,
            latchPackets: this.config.latchPackets,
          });
          return { ...pair, sender: sender ?? null };
        } catch (err) {
          failed.push(pair.rtpPort);
          const message = err instanceof Error ? err.message : String(err);
          if (/EMFILE|ENFILE/.test(message)) {
            throw new CapacityError(
              'NO_SOCKETS_AVAILABLE',
              'the process is out of file descriptors for RTP sockets (raise ulimit -n)',
            );
          }
          if (!/EADDRINUSE|EACCES/.test(message)) throw err;
        }
      }
      throw new CapacityError('NO_PORTS_AVAILABLE', 'could not bind an RTP port pair after 20 attempts');
    } finally {
      for (const p of failed) this.#ports.release(p);
    }
  }

  #local(record: EndpointRecord): LocalMediaOptions {
    return {
      ip: record.localIp,
      rtpPort: record.rtpPort,
      rtcpPort: record.rtcpPort,
      codecs: record.codecs,
      direction: record.direction,
      sessionId: record.sessionId,
      sessionVersion: record.sessionVersion,
      ...(record.sdp ? { previousSdp: record.sdp } : {}),
      // A re-offer in an established session names the codec in use only (README: answer policy).
      ...(record.media
        ? { negotiated: { codec: record.media.codec, telephoneEvent: record.media.telephoneEvent } }
        : {}),
    };
  }

  /** The endpoint's DTMF options (in-band listening: always, never, or as DTMF_INBAND decides). */
  async #applyDtmfOptions(record: EndpointRecord, dtmf: EndpointDtmfOptions): Promise<void> {
    if (dtmf.inband === undefined) return;
    await record.worker.request('dtmf.configure', { endpointId: record.id, inband: dtmf.inband });
  }

  async #applyMedia(record: EndpointRecord, media: NegotiatedMedia): Promise<void> {
    const config = toWorkerMedia(media);
    await record.worker.request('endpoint.configure', { id: record.id, media: config });
    record.media = media;
    record.state = 'active';
    record.latched = null;
    const bridge = record.bridgeId ? this.#bridges.get(record.bridgeId) : undefined;
    if (bridge && bridge.a.worker !== bridge.b.worker) {
      const other = bridge.a === record ? bridge.b : bridge.a;
      await other.worker.request('bridge.updatePeer', { id: bridge.id, peerMedia: config }).catch(() => {});
    }
  }

  async listEndpoints(): Promise<EndpointInfo[]> {
    const stats = new Map<string, WorkerEndpointStats>();
    await Promise.all(
      this.#pool.all.map(async (w) => {
        if (!w.alive) return;
        const all = await w.request('endpoint.statsAll', {}).catch(() => ({}));
        for (const [id, s] of Object.entries(all)) stats.set(id, s);
      }),
    );
    return [...this.#endpoints.values()].map((r) => this.#info(r, stats.get(r.id) ?? null));
  }

  async getEndpoint(id: string): Promise<EndpointInfo> {
    const record = this.#endpoint(id);
    const stats = await record.worker.request('endpoint.stats', { id }).catch(() => null);
    return this.#info(record, stats);
  }

  async updateEndpoint(id: string, req: UpdateEndpointRequest): Promise<EndpointInfo> {
    this.#assertRunning();
    const record = this.#endpoint(id);
    if (req.direction !== undefined) record.direction = req.direction;
    if (req.remote_sdp !== undefined) {
      if (record.role === 'offer' && record.state === 'offered') {
        const media = processAnswer(record.sdp, req.remote_sdp);
        this.#own.check(media.remote);
        record.lastRemoteSdp = req.remote_sdp;
        await this.#applyMedia(record, applyLocalDirection(media, record.direction));
      } else {
        // A new offer from the peer (re-INVITE): answer it, keeping our o= line's session.
        const answer = createAnswer(req.remote_sdp, this.#local(record));
        this.#own.check(answer.media.remote);
        record.sdp = answer.sdp;
        record.sessionVersion = answer.sessionVersion;
        record.lastRemoteSdp = req.remote_sdp;
        record.role = 'answer';
        await this.#applyMedia(record, answer.media);
      }
    } else if (req.direction !== undefined) {
      if (record.role === 'answer' && record.lastRemoteSdp) {
        const answer = createAnswer(record.lastRemoteSdp, this.#local(record));
        record.sdp = answer.sdp;
        record.sessionVersion = answer.sessionVersion;
        await this.#applyMedia(record, answer.media);
      } else {
        const offer = createOffer(this.#local(record));
        record.sdp = offer.sdp;
        record.sessionVersion = offer.sessionVersion;
        if (record.media) await this.#applyMedia(record, applyLocalDirection(record.media, record.direction));
      }
    } else if (req.dtmf === undefined) {
      throw new ValidationError('VALIDATION_ERROR', 'body must have remote_sdp, direction or dtmf');
    }
    if (req.dtmf !== undefined) await this.#applyDtmfOptions(record, req.dtmf);
    this.events.publish('endpoint.updated', {
      endpoint_id: id,
      state: record.state,
      direction: record.media?.direction ?? record.direction,
    });
    return this.getEndpoint(id);
  }

  async deleteEndpoint(id: string): Promise<void> {
    const record = this.#endpoint(id);
    if (record.bridgeId) await this.deleteBridge(record.bridgeId, id).catch(() => {});
    await record.worker.request('endpoint.close', { id }).catch(() => {});
    // A bridge created while the endpoint was closing: the other leg must not stay in it.
    if (record.bridgeId) await this.deleteBridge(record.bridgeId, id).catch(() => {});
    this.#forgetEndpoint(record, 'deleted');
  }

  #forgetEndpoint(record: EndpointRecord, reason: 'deleted' | 'worker_died' | 'shutdown'): void {
    if (record.state === 'closed') return;
    record.state = 'closed';
    this.#pool.settled(record.id);
    record.worker.endpointCount--;
    this.#endpoints.delete(record.id);
    this.#ports.release(record.rtpPort);
    this.events.publish('endpoint.deleted', { endpoint_id: record.id, reason });
    this.#endpointEnds.end(record.id, reason);
    this.dtmf.endpointClosed(record.id);
    this.amd.endpointClosed(record.id);
    this.conferences.endpointClosed(record.id);
    if (this.#endpoints.size === 0) for (const idle of this.#idleWaiters) idle();
  }

  #endpoint(id: string): EndpointRecord {
    const r = this.#endpoints.get(id);
    if (!r) throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${id} not found`);
    return r;
  }

  #info(r: EndpointRecord, s: WorkerEndpointStats | null): EndpointInfo {
    const media = r.media;
    const remote =
      s?.remote ??
      (media?.remote ? { ip: media.remote.ip, rtpPort: media.remote.rtpPort, rtcpPort: media.remote.rtcpPort } : null);
    return {
      id: r.id,
      state: r.state,
      ip: r.localIp,
      rtp_port: r.rtpPort,
      rtcp_port: media?.rtcpMux ? r.rtpPort : r.rtcpPort,
      rtcp_mux: media?.rtcpMux ?? false,
      sdp: r.sdp,
      direction: media?.direction ?? r.direction,
      codec: media
        ? {
            name: media.codec.name,
            payload_type: media.codec.payloadType,
            clock_rate: media.codec.clockRate,
            channels: media.codec.channels,
            ptime: media.codec.ptime,
          }
        : null,
      telephone_event: media?.telephoneEvent
        ? { payload_type: media.telephoneEvent.payloadType, clock_rate: media.telephoneEvent.clockRate }
        : null,
      remote: remote ? { ip: remote.ip, rtp_port: remote.rtpPort, rtcp_port: remote.rtcpPort } : null,
      affinity: r.affinity,
      worker: r.worker.index,
      bridge_id: r.bridgeId,
      created_at: r.createdAt,
      stats: s
        ? {
            packets_received: s.packetsReceived,
            packets_sent: s.packetsSent,
            bytes_received: s.bytesReceived,
            bytes_sent: s.bytesSent,
            packets_lost: s.packetsLost,
            fraction_lost: s.fractionLost,
            jitter_ms: s.jitterMs,
            rtt_ms: s.rttMs,
            mos: s.mos,
            dropped: s.dropped,
            jitter_buffer: s.jitterBuffer
              ? {
                  delay_ms: s.jitterBuffer.delayMs,
                  late: s.jitterBuffer.late,
                  lost: s.jitterBuffer.lost,
                  concealed: s.jitterBuffer.concealed,
                  duplicates: s.jitterBuffer.duplicates,
                  discarded: s.jitterBuffer.discarded,
                }
              : null,
          }
        : { ...EMPTY_STATS, dropped: {} },
    };
  }

  // ---- bridges ------------------------------------------------------------------------------

  async createBridge(req: CreateBridgeRequest): Promise<BridgeInfo> {
    this.#assertRunning();
    if (req.endpoint_a === req.endpoint_b)
      throw new ValidationError('VALIDATION_ERROR', 'endpoint_a and endpoint_b must differ');
    const a = this.#endpoint(req.endpoint_a);
    const b = this.#endpoint(req.endpoint_b);
    for (const ep of [a, b]) {
      if (ep.bridgeId)
        throw new InvalidStateError('ALREADY_BRIDGED', `endpoint ${ep.id} is already in bridge ${ep.bridgeId}`);
    }
    const id = randomUUID();
    let mode: 'relay' | 'transcode';
    let aMedia: NegotiatedMedia | null = null;
    let bMedia: NegotiatedMedia | null = null;
    if (a.worker === b.worker) {
      ({ mode } = await a.worker.request('bridge.create', { id, a: a.id, b: b.id }));
    } else {
      if (!a.media || !b.media) {
        throw new InvalidStateError(
          'ENDPOINT_NOT_ACTIVE',
          'both endpoints must have negotiated media to bridge across workers',
        );
      }
      aMedia = a.media;
      bMedia = b.media;
      // One shared-memory ring per direction; each worker's doorbell wakes it for all its rings.
      const ab = SpscRing.create(BRIDGE_RING_BYTES);
      const ba = SpscRing.create(BRIDGE_RING_BYTES);
      const [bellA, bellB] = [this.#pool.doorbellOf(a.worker), this.#pool.doorbellOf(b.worker)];
      ({ mode } = await a.worker.request('bridge.createRemote', {
        id,
        local: a.id,
        peerMedia: toWorkerMedia(b.media),
        peerSender: b.sender,
        tx: ab,
        rx: ba,
        bell: bellA,
        peerBell: bellB,
      }));
      try {
        await b.worker.request('bridge.createRemote', {
          id,
          local: b.id,
          peerMedia: toWorkerMedia(a.media),
          peerSender: a.sender,
          tx: ba,
          rx: ab,
          bell: bellB,
          peerBell: bellA,
        });
      } catch (err) {
        await a.worker.request('bridge.delete', { id }).catch(() => {});
        throw err;
      }
    }
    // A leg deleted (or lost with its worker) while the workers built the bridge: undo it, or
    // the other leg would stay in a bridge nobody can see through the deleted one.
    if (a.state === 'closed' || b.state === 'closed') {
      await Promise.all(
        [...new Set([a.worker, b.worker])].map((w) =>
          w.alive ? w.request('bridge.delete', { id }).catch(() => {}) : null,
        ),
      );
      const gone = a.state === 'closed' ? a : b;
      throw new NotFoundError(
        'ENDPOINT_NOT_FOUND',
        `endpoint ${gone.id} was deleted while the bridge was being created`,
      );
    }
    const record: BridgeRecord = { id, a, b, mode, createdAt: new Date().toISOString() };
    this.#bridges.set(id, record);
    a.bridgeId = id;
    b.bridgeId = id;
    this.#pool.settled(a.id);
    this.#pool.settled(b.id);
    this.#counters.bridgesCreated++;
    if (a.worker !== b.worker) {
      // A re-INVITE that completed while the halves were built was not forwarded to the other
      // worker (the bridge was not registered yet): send each half its peer's current media.
      if (a.media !== aMedia && a.media)
        await b.worker.request('bridge.updatePeer', { id, peerMedia: toWorkerMedia(a.media) }).catch(() => {});
      if (b.media !== bMedia && b.media)
        await a.worker.request('bridge.updatePeer', { id, peerMedia: toWorkerMedia(b.media) }).catch(() => {});
    }
    this.events.publish('bridge.created', { bridge_id: id, endpoint_a: a.id, endpoint_b: b.id, mode });
    return this.#bridgeInfo(record);
  }

  listBridges(): BridgeInfo[] {
    return [...this.#bridges.values()].map((b) => this.#bridgeInfo(b));
  }

  getBridge(id: string): BridgeInfo {
    return this.#bridgeInfo(this.#bridge(id));
  }

  /** `endpointId`: the bridge ends because that leg is being deleted (the event says which). */
  async deleteBridge(id: string, endpointId?: string): Promise<void> {
    const bridge = this.#bridge(id);
    const workers = new Set([bridge.a.worker, bridge.b.worker]);
    await Promise.all([...workers].map((w) => w.request('bridge.delete', { id }).catch(() => {})));
    this.#forgetBridge(id, endpointId === undefined ? 'deleted' : 'endpoint_deleted', endpointId);
  }

  #forgetBridge(id: string, reason: 'deleted' | 'endpoint_deleted' | 'worker_died', endpointId?: string): void {
    const bridge = this.#bridges.get(id);
    if (!bridge) return;
    this.#bridges.delete(id);
    bridge.a.bridgeId = null;
    bridge.b.bridgeId = null;
    if (reason === 'worker_died') {
      // The surviving half on another worker must stop forwarding into a dead port.
      for (const ep of [bridge.a, bridge.b])
        if (ep.worker.alive) void ep.worker.request('bridge.delete', { id }).catch(() => {});
    }
    this.events.publish('bridge.deleted', {
      bridge_id: id,
      reason,
      ...(endpointId !== undefined ? { endpoint_id: endpointId } : {}),
    });
    this.#bridgeEnds.end(id, endpointId !== undefined ? { reason, endpointId } : { reason });
    this.recordings.bridgeClosed(id);
    this.streams.bridgeClosed(id);
  }

  #bridge(id: string): BridgeRecord {
    const b = this.#bridges.get(id);
    if (!b) throw new NotFoundError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
    return b;
  }

  #bridgeInfo(b: BridgeRecord): BridgeInfo {
    return {
      id: b.id,
      endpoint_a: b.a.id,
      endpoint_b: b.b.id,
      mode: bridgeMode(b),
      cross_worker: b.a.worker !== b.b.worker,
      created_at: b.createdAt,
    };
  }

  // ---- operations ---------------------------------------------------------------------------

  #assertRunning(): void {
    if (this.#closing) throw new CapacityError('SHUTTING_DOWN', 'the server is shutting down');
    if (!this.#started) throw new CapacityError('NOT_READY', 'the media workers are not started');
  }

  /** For new calls (endpoints, flows, conferences): refused while draining or shutting down. */
  assertAdmitting(): void {
    this.#assertRunning();
    if (this.#draining) throw new CapacityError('DRAINING', 'the server is draining: it takes no new calls');
  }

  drain(): DrainStatus {
    if (!this.#draining) {
      this.#draining = true;
      this.#logger.info(
        { endpoints: this.#endpoints.size },
        'draining: no new calls, waiting for the calls in progress',
      );
      this.events.publish('server.draining', { endpoints: this.#endpoints.size });
      this.#onDrain();
    }
    return this.drainStatus();
  }

  drainStatus(): DrainStatus {
    return { draining: this.#draining, endpoints: this.#endpoints.size };
  }

  /** Resolves on the first drain() (SIGTERM, POST /admin/drain, gRPC Drain). */
  whenDrainRequested(): Promise<void> {
    return this.#drainRequested;
  }

  /** Resolves when no endpoint is left (at once if none is), or when `signal` aborts. */
  whenIdle(signal?: AbortSignal): Promise<void> {
    if (this.#endpoints.size === 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#idleWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#idleWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  isLive(): boolean {
    return !this.#closing;
  }

  isReady(): boolean {
    // Ready means a new endpoint can be created: workers up and a port pair left.
    return (
      this.#started &&
      !this.#closing &&
      !this.#draining &&
      this.#pool.all.every((w) => w.alive) &&
      this.#ports.available > 0
    );
  }

  async workerMetrics(): Promise<WorkerMetrics[]> {
    const all = await Promise.all(
      this.#pool.all.map((w) => (w.alive ? w.request('worker.metrics', {}).catch(() => null) : null)),
    );
    return all.filter((m): m is WorkerMetrics => m !== null);
  }

  /** Prometheus exposition of the control plane, every worker and the process. */
  metrics(): Promise<{ contentType: string; body: string }> {
    return this.#metrics.render();
  }

  /** Test hook: kills a worker from the inside, as a crash would. */
  async crashWorker(index: number): Promise<void> {
    await this.#pool.get(index)?.request('worker.crash', {});
  }

  /** Stops accepting work, closes every endpoint (RTCP BYE), stops the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#pool.close();
    // Engines first: recordings are finalised before their endpoints go.
    await Promise.all(this.#pool.all.map((w) => (w.alive ? w.request('worker.shutdown', {}).catch(() => {}) : null)));
    await Promise.all(
      [...this.#endpoints.values()].map((ep) => ep.worker.request('endpoint.close', { id: ep.id }).catch(() => {})),
    );
    for (const ep of [...this.#endpoints.values()]) this.#forgetEndpoint(ep, 'shutdown');
    // Give the sockets a moment to flush the BYEs before the threads go.
    await new Promise((r) => setTimeout(r, 20));
    await this.#pool.terminate();
    this.#prep?.close();
    this.playback.close();
    this.recordings.close();
    this.conferences.close();
    this.amd.close();
    this.speech.close();
    this.streams.close();
    this.#metrics.close();
  }
}

/** What the bridge does now: legs renegotiate (re-INVITE), so it follows their current codecs. */
function bridgeMode(b: BridgeRecord): 'relay' | 'transcode' {
  const ca = b.a.media?.codec;
  const cb = b.b.media?.codec;
  if (!ca || !cb) return b.mode;
  return ca.name === cb.name && ca.clockRate === cb.clockRate && ca.channels === cb.channels ? 'relay' : 'transcode';
}

function toWorkerMedia(m: NegotiatedMedia): EndpointMediaConfig {
  return {
    remote: m.remote ? { ip: m.remote.ip, rtpPort: m.remote.rtpPort, rtcpPort: m.remote.rtcpPort } : null,
    rtcpMux: m.rtcpMux,
    codec: {
      name: m.codec.name,
      payloadType: m.codec.payloadType,
      clockRate: m.codec.clockRate,
      channels: m.codec.channels,
      ptime: m.codec.ptime,
      fmtp: m.codec.fmtp,
    },
    telephoneEvent: m.telephoneEvent
      ? { payloadType: m.telephoneEvent.payloadType, clockRate: m.telephoneEvent.clockRate }
      : null,
    comfortNoise: m.comfortNoise
      ? { payloadType: m.comfortNoise.payloadType, clockRate: m.comfortNoise.clockRate }
      : null,
    direction: m.direction,
  };
}

/** Our direction from the peer's answer, further restricted by what the API asked for. */
function applyLocalDirection(m: NegotiatedMedia, wanted: Direction): NegotiatedMedia {
  const send =
    (m.direction === 'sendrecv' || m.direction === 'sendonly') && (wanted === 'sendrecv' || wanted === 'sendonly');
  const recv =
    (m.direction === 'sendrecv' || m.direction === 'recvonly') && (wanted === 'sendrecv' || wanted === 'recvonly');
  const direction: Direction = send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
  return { ...m, direction };
}

/** Plain settings every media worker gets at start (engines read what they need). */
function workerSettings(c: Config, udpIo: UdpIo): WorkerSettings {
  return {
    udpIo,
    relayOffload: c.relayOffload,
    relayThreads: c.relayThreads,
    promptsDir: c.promptsDir,
    recordingsDir: c.recordingsDir,
    flowsDir: c.flowsDir,
    dtmfInband: c.dtmfInband,
    silenceFill: c.silenceFill,
    mediaFetchAllow: c.mediaFetchAllow,
    mediaFetchDeny: c.mediaFetchDeny,
  };
}
