import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { InvalidStateError, NotFoundError } from '../common/errors.ts';
import type {
  BridgeRequests,
  EndpointRequests,
  Handlers,
  Notify,
  WorkerAdminRequests,
  WorkerMethod,
  WorkerMetrics,
  WorkerRequests,
  WorkerSettings,
} from '../protocol/index.ts';
import { BRIDGE_RING_BYTES } from '../protocol/bridge.ts';
import { Doorbell } from '../common/Doorbell.ts';
import { SpscRing } from '../common/SpscRing.ts';
import { BridgeLink, LocalTarget, RingTarget } from './engines/BridgeLink.ts';
import { RingInbox } from './engines/RingInbox.ts';
import { EndpointAudio } from './engines/EndpointAudio.ts';
import { MediaClock } from './engines/MediaClock.ts';
import { SilenceFill, type SilenceFillMode } from './engines/SilenceFill.ts';
import type { WorkerContext } from './engines/MediaEngine.ts';
import { createEngines, type Engines } from './engines/registry.ts';
import { dropsToRecord } from './transport/dropReasons.ts';
import { RtpEndpoint, type EndpointListener } from './transport/RtpEndpoint.ts';
import {
  defaultUdpTransportFactory,
  udpTransportFactory,
  type UdpTransportFactory,
} from './transport/udp/UdpTransport.ts';
import { drainNativeOffload, nativeUdpStats, setNativeRelayThreads } from './transport/udp/NativeUdpTransport.ts';

export type { Notify };

interface Bridge {
  id: string;
  links: BridgeLink[];
  endpoints: RtpEndpoint[];
  /** Cross-worker: the ring this worker drains, and the inbox draining it. */
  rx: SpscRing | null;
  inbox: RingInbox | null;
  remote: RingTarget | null;
}

/**
 * Everything one media worker thread owns: its endpoints (and their sockets), bridges, and the
 * housekeeping timer (RTCP, media timeouts). Requests arrive from the control plane through
 * `handle()`, which dispatches by one table: this class's endpoint, bridge and worker handlers
 * and the engines' tables, together typed by the protocol; notifications go back through `notify`.
 */
export class MediaWorker implements EndpointListener {
  readonly index: number;
  readonly #notify: Notify;
  readonly #endpoints = new Map<string, RtpEndpoint>();
  readonly #bridges = new Map<string, Bridge>();
  readonly #bridgeOf = new Map<string, string>();
  readonly #housekeeping: NodeJS.Timeout;
  readonly #lag: IntervalHistogram;
  readonly clock = new MediaClock();
  readonly #engines: Engines;
  readonly #handlers: Handlers<WorkerRequests>;
  /** Idle endpoints' comfort noise / silence (SILENCE_FILL). */
  readonly #fills = new Map<string, SilenceFill>();
  readonly #silenceFill: SilenceFillMode;
  /** Makes the endpoints' sockets (UDP_IO). */
  readonly #udp: UdpTransportFactory;
  /** RELAY_OFFLOAD: false relays every packet through JavaScript. */
  readonly #relayOffload: boolean;
  /** Consumers of cross-worker bridges, by doorbell id (the control plane gives each worker one). */
  readonly #inboxes = new Map<number, RingInbox>();
  // Totals of closed endpoints, so worker metrics stay monotonic.
  #closedTotals = { received: 0, sent: 0, lost: 0, relayed: 0, dropped: {} as Record<string, number> };

  constructor(index: number, notify: Notify, settings: WorkerSettings = {}) {
    this.index = index;
    this.#notify = notify;
    const fill = settings.silenceFill;
    this.#silenceFill = fill === 'silence' || fill === 'off' ? fill : 'cn';
    this.#udp = settings.udpIo ? udpTransportFactory(settings.udpIo) : defaultUdpTransportFactory();
    this.#relayOffload = settings.relayOffload !== false;
    setNativeRelayThreads(this.#relayOffload ? (settings.relayThreads ?? 0) : 0);
    const digitListeners = new Set<(endpointId: string, digit: string) => void>();
    const ctx: WorkerContext = {
      workerIndex: index,
      clock: this.clock,
      settings,
      endpoint: (id) => this.#endpoint(id),
      audio: (id) => {
        const ep = this.#endpoint(id);
        if (ep.audio instanceof EndpointAudio) return ep.audio;
        const audio = new EndpointAudio(ep, this.clock);
        ep.audio = audio;
        return audio;
      },
      notify,
      emitDigit: (endpointId, digit) => {
        for (const listener of digitListeners) listener(endpointId, digit);
      },
      onDigit: (listener) => {
        digitListeners.add(listener);
        return () => {
          digitListeners.delete(listener);
        };
      },
      wantDigits: (endpointId) => this.#engines.dtmf.want(endpointId),
      sendDtmf: async (endpointId, digits, durationMs) => {
        await this.#engines.dtmf.handlers['dtmf.send']({
          endpointId,
          digits,
          ...(durationMs !== undefined ? { durationMs } : {}),
        });
      },
      watchTalk: (endpointId, watcher) => this.#engines.talk.watch(endpointId, watcher),
    };
    this.#engines = createEngines(ctx);
    const e = this.#engines;
    this.#handlers = {
      ...this.#endpointHandlers,
      ...this.#bridgeHandlers,
      ...this.#workerHandlers,
      ...e.playback.handlers,
      ...e.recording.handlers,
      ...e.conference.handlers,
      ...e.dtmf.handlers,
      ...e.amd.handlers,
      ...e.talk.handlers,
      ...e.speech.handlers,
      ...e.stream.handlers,
    };
    this.#lag = monitorEventLoopDelay({ resolution: 10 });
    this.#lag.enable();
    this.#housekeeping = setInterval(() => this.#tick(), 500);
  }

  /**
   * Resolves once the engines have warmed what a first call would otherwise wait for (encoder
   * threads); the worker reports ready after it.
   */
  warmedUp(): Promise<void> {
    return Promise.all(Object.values(this.#engines).map((e) => e.warmUp?.())).then(() => undefined);
  }

  /** Answers one request of the control plane (an unknown method: UNKNOWN_METHOD). */
  async handle<M extends WorkerMethod>(
    method: M,
    params: WorkerRequests[M]['params'],
  ): Promise<WorkerRequests[M]['result']> {
    if (!Object.hasOwn(this.#handlers, method))
      throw new InvalidStateError('UNKNOWN_METHOD', `unknown worker method ${String(method)}`);
    return this.#handlers[method](params);
  }

  readonly #endpointHandlers: Handlers<EndpointRequests> = {
    'endpoint.create': (p) => this.#createEndpoint(p),
    'endpoint.configure': (p) => this.#configureEndpoint(p),
    'endpoint.close': (p) => this.#closeEndpoint(p),
    'endpoint.stats': (p) => this.#endpoint(p.id).stats(),
    'endpoint.statsAll': () => {
      const all: WorkerRequests['endpoint.statsAll']['result'] = {};
      for (const [id, ep] of this.#endpoints) all[id] = ep.stats();
      return all;
    },
  };

  readonly #bridgeHandlers: Handlers<BridgeRequests> = {
    'bridge.create': (p) => this.#createBridge(p),
    'bridge.createRemote': (p) => this.#createRemoteBridge(p),
    'bridge.updatePeer': ({ id, peerMedia }) => {
      const bridge = this.#bridges.get(id);
      if (bridge?.remote) bridge.remote.peerMedia = peerMedia;
      return { ok: true };
    },
    'bridge.delete': (p) => {
      this.#deleteBridge(p.id);
      return { ok: true };
    },
  };

  readonly #workerHandlers: Handlers<WorkerAdminRequests> = {
    'worker.metrics': () => this.#metrics(),
    'worker.shutdown': async () => {
      await this.shutdown();
      return { ok: true };
    },
    'worker.crash': () => {
      setImmediate(() => {
        throw new Error('crash requested by worker.crash');
      });
      return { ok: true };
    },
  };

  #endpoint(id: string): RtpEndpoint {
    const ep = this.#endpoints.get(id);
    if (!ep) throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${id} not found on worker ${this.index}`);
    return ep;
  }

  async #createEndpoint(
    p: WorkerRequests['endpoint.create']['params'],
  ): Promise<{ ok: true; sender: SharedArrayBuffer }> {
    if (this.#endpoints.has(p.id)) throw new InvalidStateError('ENDPOINT_EXISTS', `endpoint ${p.id} exists`);
    const ep = await RtpEndpoint.open(p.id, p.ip, p.rtpPort, p.rtcpPort, p.mediaTimeoutMs, p.cname, this.#udp);
    ep.listener = this;
    if (!this.#relayOffload) ep.disableOffload();
    ep.strictSource = p.strictSource === true;
    if (p.latchPackets !== undefined) ep.latchPackets = p.latchPackets;
    this.#endpoints.set(p.id, ep);
    return { ok: true, sender: ep.sender.block };
  }

  #configureEndpoint(p: WorkerRequests['endpoint.configure']['params']): { ok: true } {
    const ep = this.#endpoint(p.id);
    ep.configure(p.media, performance.now());
    if (this.#silenceFill !== 'off' && !this.#fills.has(ep.id))
      this.#fills.set(ep.id, new SilenceFill(ep, this.clock, this.#silenceFill));
    this.#refreshFill(ep);
    for (const engine of Object.values(this.#engines)) {
      try {
        engine.onEndpointConfigured?.(p.id);
      } catch {
        // an engine failing to attach must not fail the negotiation
      }
    }
    return { ok: true };
  }

  #closeEndpoint(p: { id: string }): { ok: true } {
    const ep = this.#endpoints.get(p.id);
    if (!ep) return { ok: true };
    const bridgeId = this.#bridgeOf.get(p.id);
    if (bridgeId) this.#deleteBridge(bridgeId);
    for (const engine of Object.values(this.#engines)) {
      try {
        engine.onEndpointClosed?.(p.id);
      } catch {
        // an engine failing to clean up must not keep the endpoint open
      }
    }
    const s = ep.stats();
    const t = this.#closedTotals;
    t.received += s.packetsReceived;
    t.sent += s.packetsSent;
    t.lost += Math.max(0, s.packetsLost);
    dropsToRecord(ep.drops, t.dropped);
    this.#fills.get(p.id)?.stop();
    this.#fills.delete(p.id);
    ep.close();
    this.#endpoints.delete(p.id);
    return { ok: true };
  }

  #createBridge(p: WorkerRequests['bridge.create']['params']): { mode: 'relay' | 'transcode' } {
    const a = this.#endpoint(p.a);
    const b = this.#endpoint(p.b);
    for (const ep of [a, b]) {
      if (this.#bridgeOf.has(ep.id))
        throw new InvalidStateError('ALREADY_BRIDGED', `endpoint ${ep.id} is already bridged`);
    }
    const ab = new BridgeLink(a, new LocalTarget(b), this.clock);
    const ba = new BridgeLink(b, new LocalTarget(a), this.clock);
    a.sink = ab;
    b.sink = ba;
    a.sender.resetSource();
    b.sender.resetSource();
    this.#bridges.set(p.id, { id: p.id, links: [ab, ba], endpoints: [a, b], rx: null, inbox: null, remote: null });
    this.#bridgeOf.set(a.id, p.id);
    this.#bridgeOf.set(b.id, p.id);
    this.#refreshFill(a);
    this.#refreshFill(b);
    this.#bridgeChanged(a.id);
    return { mode: ab.mode };
  }

  #createRemoteBridge(p: WorkerRequests['bridge.createRemote']['params']): { mode: 'relay' | 'transcode' } {
    const local = this.#endpoint(p.local);
    if (this.#bridgeOf.has(local.id))
      throw new InvalidStateError('ALREADY_BRIDGED', `endpoint ${local.id} is already bridged`);
    const tx = new SpscRing(p.tx);
    const rx = new SpscRing(p.rx);
    const remote = new RingTarget(tx, new Doorbell(p.peerBell), p.peerMedia, local.drops, p.peerSender ?? null);
    const bellId = Doorbell.idOf(p.bell);
    let inbox = this.#inboxes.get(bellId);
    if (inbox === undefined) {
      inbox = new RingInbox(p.bell, SpscRing.maxPayloadOf(BRIDGE_RING_BYTES));
      this.#inboxes.set(bellId, inbox);
    }
    // Packets from the other worker arrive converted for us: the inbox continues our stream.
    inbox.add(rx, local);
    const link = new BridgeLink(local, remote, this.clock);
    local.sink = link;
    local.sender.resetSource();
    this.#bridges.set(p.id, { id: p.id, links: [link], endpoints: [local], rx, inbox, remote });
    this.#bridgeOf.set(local.id, p.id);
    this.#refreshFill(local);
    this.#bridgeChanged(local.id);
    return { mode: link.mode };
  }

  #deleteBridge(id: string): void {
    const bridge = this.#bridges.get(id);
    if (!bridge) return;
    for (const link of bridge.links) {
      this.#closedTotals.relayed += link.relayed;
      link.close();
    }
    for (const ep of bridge.endpoints) {
      if (ep.sink !== null && bridge.links.includes(ep.sink as BridgeLink)) ep.sink = null;
      this.#bridgeOf.delete(ep.id);
      this.#refreshFill(ep);
    }
    if (bridge.rx !== null) bridge.inbox?.remove(bridge.rx);
    this.#bridges.delete(id);
    for (const ep of bridge.endpoints) this.#bridgeChanged(ep.id);
  }

  /** Tells the engines that `endpointId` joined or left a bridge (the DTMF engine's conversions). */
  #bridgeChanged(endpointId: string): void {
    for (const engine of Object.values(this.#engines)) {
      try {
        engine.onBridgeChanged?.(endpointId);
      } catch {
        // an engine's bookkeeping must not fail the bridge request
      }
    }
  }

  /** The silence fill runs only while the endpoint may send and nothing else feeds it. */
  #refreshFill(ep: RtpEndpoint): void {
    this.#fills.get(ep.id)?.refresh();
  }

  #tick(): void {
    const now = performance.now();
    for (const ep of this.#endpoints.values()) ep.tick(now);
  }

  #metrics(): WorkerMetrics {
    drainNativeOffload(); // the counters include what the addon relayed up to now
    const t = this.#closedTotals;
    let received = t.received;
    let sent = t.sent;
    let lost = t.lost;
    let relayed = t.relayed;
    const dropped: Record<string, number> = { ...t.dropped };
    for (const ep of this.#endpoints.values()) {
      received += ep.packetsReceived;
      sent += ep.sender.packets;
      lost += Math.max(0, ep.rtcp.receiveSummary().packetsLost);
      dropsToRecord(ep.drops, dropped);
    }
    for (const b of this.#bridges.values()) for (const l of b.links) relayed += l.relayed;
    const lag = this.#lag;
    const result: WorkerMetrics = {
      workerIndex: this.index,
      endpoints: this.#endpoints.size,
      bridges: this.#bridges.size,
      packetsReceived: received,
      packetsSent: sent,
      packetsRelayed: relayed,
      packetsOffloaded: nativeUdpStats()?.offloaded ?? 0,
      packetsOffloadedByThread: nativeUdpStats()?.threadOffloaded ?? 0,
      packetsLost: lost,
      dropped,
      eventLoopLagMs: {
        p50: lag.percentile(50) / 1e6,
        p99: lag.percentile(99) / 1e6,
        max: lag.max / 1e6,
      },
    };
    lag.reset();
    const engines: Record<string, Record<string, number>> = {};
    for (const [prefix, engine] of Object.entries(this.#engines))
      if (engine.metrics) engines[prefix] = engine.metrics();
    result.engines = engines;
    const clock = this.clock;
    result.clock = {
      ticks: clock.ticks,
      lateMaxMs: clock.lateMax,
      lateP50Ms: clock.latePercentile(50),
      lateP99Ms: clock.latePercentile(99),
      lateHistogram: clock.lateHistogram(),
    };
    clock.resetLateness();
    // this thread's isolate: its heap and its resourceLimits' ceiling
    const heap = getHeapStatistics();
    result.heap = {
      usedBytes: heap.used_heap_size,
      totalBytes: heap.total_heap_size,
      limitBytes: heap.heap_size_limit,
      externalBytes: heap.external_memory,
    };
    return result;
  }

  onMediaTimeout(ep: RtpEndpoint, lastPacketAgoMs: number): void {
    this.#notify('endpoint.media_timeout', { id: ep.id, lastPacketAgoMs });
  }

  onRemoteLatched(ep: RtpEndpoint, ip: string, port: number, kind: 'rtp' | 'rtcp'): void {
    this.#refreshFill(ep); // a peer on hold by c=0.0.0.0 may have given us an address to send to
    this.#notify('endpoint.remote_latched', { id: ep.id, ip, port, kind });
  }

  onBye(ep: RtpEndpoint, ssrc: number, reason: string | null): void {
    this.#notify('endpoint.rtcp_bye', { id: ep.id, ssrc, reason });
  }

  /** Lets engines finish what must not be lost (recordings), then closes everything. */
  async shutdown(): Promise<void> {
    await Promise.all(
      Object.values(this.#engines).map(async (e) => {
        try {
          await e.close();
        } catch {
          // keep closing the others
        }
      }),
    );
    this.close();
  }

  /** Closes every endpoint (RTCP BYE) and stops timers. Idempotent. */
  close(): void {
    this.clock.close();
    clearInterval(this.#housekeeping);
    this.#lag.disable();
    for (const fill of this.#fills.values()) fill.stop();
    this.#fills.clear();
    for (const id of [...this.#bridges.keys()]) this.#deleteBridge(id);
    for (const inbox of this.#inboxes.values()) inbox.close();
    this.#inboxes.clear();
    for (const ep of this.#endpoints.values()) ep.close();
    this.#endpoints.clear();
  }
}
