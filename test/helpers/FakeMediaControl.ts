import {
  CapacityError,
  InvalidStateError,
  NotFoundError,
  UnsupportedError,
  ValidationError,
} from '../../src/common/errors.ts';
import { EventBus } from '../../src/control/EventBus.ts';
import type { DrainStatus, MediaControl } from '../../src/control/MediaControl.ts';
import type {
  BridgeInfo,
  CodecDescription,
  CreateBridgeRequest,
  CreateEndpointRequest,
  EndpointInfo,
  UpdateEndpointRequest,
} from '../../src/control/types.ts';

export interface FakeMediaControlOptions {
  /** Endpoints allowed at once; one more is CapacityError NO_PORTS_AVAILABLE (503). */
  maxEndpoints?: number;
  /** EventBus replay ring size. */
  eventBufferSize?: number;
}

const CODECS: Record<string, CodecDescription> = {
  pcmu: { name: 'PCMU', payload_type: 0, clock_rate: 8000, channels: 1, ptime: 20 },
  pcma: { name: 'PCMA', payload_type: 8, clock_rate: 8000, channels: 1, ptime: 20 },
  g722: { name: 'G722', payload_type: 9, clock_rate: 8000, channels: 1, ptime: 20 },
  opus: { name: 'opus', payload_type: 111, clock_rate: 48000, channels: 2, ptime: 20 },
  l16: { name: 'L16', payload_type: 96, clock_rate: 8000, channels: 1, ptime: 20 },
};

/**
 * In-memory MediaControl for API tests: the same contract as MediaServer (errors by class and
 * code, events on the bus) without sockets or workers. Only `failNext` and the capacity option
 * are fake-specific; everything else a test uses is the MediaControl interface, so a test can
 * swap in the real server by changing its construction line.
 */
export class FakeMediaControl implements MediaControl {
  readonly events: EventBus;
  readonly #endpoints = new Map<string, EndpointInfo>();
  readonly #bridges = new Map<string, BridgeInfo>();
  readonly #maxEndpoints: number;
  #nextId = 1;
  #nextPort = 10000;
  #failNext: unknown = null;
  ready = true;
  live = true;

  constructor(opts: FakeMediaControlOptions = {}) {
    this.#maxEndpoints = opts.maxEndpoints ?? 1000;
    this.events = new EventBus(opts.eventBufferSize ?? 10_000);
  }

  /** The next control call throws this (e.g. a plain Error, to test that 500s leak nothing). */
  failNext(err: unknown): void {
    this.#failNext = err;
  }

  #maybeFail(): void {
    if (this.#failNext !== null) {
      const err = this.#failNext;
      this.#failNext = null;
      throw err;
    }
  }

  #endpoint(id: string): EndpointInfo {
    const ep = this.#endpoints.get(id);
    if (ep === undefined) throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${id} not found`);
    return ep;
  }

  #negotiate(remoteSdp: string, codecs: string[]): { codec: CodecDescription; remote: EndpointInfo['remote'] } {
    if (!remoteSdp.startsWith('v=0'))
      throw new ValidationError('INVALID_SDP', 'remote_sdp: first line must be v=0 (RFC 4566 section 5)');
    const m = /^m=audio (\d+) RTP\/AVP ([\d ]+)\r?$/m.exec(remoteSdp);
    if (m === null) throw new ValidationError('INVALID_SDP', 'remote_sdp: no audio m= line');
    const pts = (m[2] ?? '').split(' ').map(Number);
    const codec = codecs.map((c) => CODECS[c]).find((c) => c !== undefined && pts.includes(c.payload_type));
    if (codec === undefined) throw new UnsupportedError('NO_COMMON_CODEC', 'no codec in common with the offer');
    const ip = /^c=IN IP4 (\S+)\r?$/m.exec(remoteSdp)?.[1] ?? '127.0.0.1';
    const port = Number(m[1]);
    return { codec, remote: { ip, rtp_port: port, rtcp_port: port + 1 } };
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<EndpointInfo> {
    this.#maybeFail();
    if (this.#endpoints.size >= this.#maxEndpoints)
      throw new CapacityError('NO_PORTS_AVAILABLE', 'no RTP ports available');
    const codecs = req.codecs ?? ['pcmu', 'pcma', 'telephone-event'];
    const neg = req.remote_sdp !== undefined ? this.#negotiate(req.remote_sdp, codecs) : null;
    const id = `ep-${this.#nextId++}`;
    const port = this.#nextPort;
    this.#nextPort += 2;
    const ep: EndpointInfo = {
      id,
      state: neg !== null ? 'active' : 'offered',
      ip: '127.0.0.1',
      rtp_port: port,
      rtcp_port: port + 1,
      rtcp_mux: false,
      sdp: `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`,
      direction: req.direction ?? 'sendrecv',
      codec: neg?.codec ?? null,
      telephone_event: codecs.includes('telephone-event') ? { payload_type: 101, clock_rate: 8000 } : null,
      remote: neg?.remote ?? null,
      affinity: req.affinity ?? null,
      worker: 0,
      bridge_id: null,
      created_at: new Date().toISOString(),
      stats: {
        packets_received: 0,
        packets_sent: 0,
        bytes_received: 0,
        bytes_sent: 0,
        packets_lost: 0,
        fraction_lost: 0,
        jitter_ms: 0,
        rtt_ms: null,
        mos: 4.4,
        dropped: {},
      },
    };
    this.#endpoints.set(id, ep);
    this.events.emit('endpoint.created', { endpoint_id: id });
    return structuredClone(ep);
  }

  async listEndpoints(): Promise<EndpointInfo[]> {
    this.#maybeFail();
    return [...this.#endpoints.values()].map((e) => structuredClone(e));
  }

  async getEndpoint(id: string): Promise<EndpointInfo> {
    this.#maybeFail();
    return structuredClone(this.#endpoint(id));
  }

  async updateEndpoint(id: string, req: UpdateEndpointRequest): Promise<EndpointInfo> {
    this.#maybeFail();
    const ep = this.#endpoint(id);
    if (req.remote_sdp !== undefined) {
      const neg = this.#negotiate(req.remote_sdp, ['pcmu', 'pcma', 'g722', 'opus']);
      ep.codec = neg.codec;
      ep.remote = neg.remote;
      ep.state = 'active';
    }
    if (req.direction !== undefined) ep.direction = req.direction;
    this.events.emit('endpoint.updated', { endpoint_id: id });
    return structuredClone(ep);
  }

  async deleteEndpoint(id: string): Promise<void> {
    this.#maybeFail();
    const ep = this.#endpoint(id);
    if (ep.bridge_id !== null) await this.deleteBridge(ep.bridge_id);
    this.#endpoints.delete(id);
    this.events.emit('endpoint.closed', { endpoint_id: id });
  }

  async createBridge(req: CreateBridgeRequest): Promise<BridgeInfo> {
    this.#maybeFail();
    if (req.endpoint_a === req.endpoint_b)
      throw new ValidationError('SAME_ENDPOINT', 'cannot bridge an endpoint to itself');
    const a = this.#endpoint(req.endpoint_a);
    const b = this.#endpoint(req.endpoint_b);
    for (const ep of [a, b]) {
      if (ep.bridge_id !== null) throw new InvalidStateError('ENDPOINT_BUSY', `endpoint ${ep.id} is already bridged`);
    }
    const bridge: BridgeInfo = {
      id: `br-${this.#nextId++}`,
      endpoint_a: a.id,
      endpoint_b: b.id,
      mode: a.codec?.name === b.codec?.name ? 'relay' : 'transcode',
      cross_worker: false,
      created_at: new Date().toISOString(),
    };
    a.bridge_id = bridge.id;
    b.bridge_id = bridge.id;
    this.#bridges.set(bridge.id, bridge);
    this.events.emit('bridge.created', { bridge_id: bridge.id, endpoint_a: a.id, endpoint_b: b.id });
    return { ...bridge };
  }

  listBridges(): BridgeInfo[] {
    this.#maybeFail();
    return [...this.#bridges.values()].map((b) => ({ ...b }));
  }

  getBridge(id: string): BridgeInfo {
    this.#maybeFail();
    const b = this.#bridges.get(id);
    if (b === undefined) throw new NotFoundError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
    return { ...b };
  }

  async deleteBridge(id: string): Promise<void> {
    this.#maybeFail();
    const b = this.#bridges.get(id);
    if (b === undefined) throw new NotFoundError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
    this.#bridges.delete(id);
    for (const epId of [b.endpoint_a, b.endpoint_b]) {
      const ep = this.#endpoints.get(epId);
      if (ep !== undefined) ep.bridge_id = null;
    }
    this.events.emit('bridge.deleted', { bridge_id: id });
  }

  draining = false;

  drain(): DrainStatus {
    this.draining = true;
    return this.drainStatus();
  }

  drainStatus(): DrainStatus {
    return { draining: this.draining, endpoints: this.#endpoints.size };
  }

  isLive(): boolean {
    return this.live;
  }

  isReady(): boolean {
    return this.ready && !this.draining;
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    this.#maybeFail();
    const body =
      '# HELP media_endpoints Endpoints open\n# TYPE media_endpoints gauge\n' +
      `media_endpoints ${this.#endpoints.size}\n`;
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body };
  }
}
