import { randomUUID } from 'node:crypto';
import { InvalidStateError, NotFoundError, UnsupportedError, ValidationError } from '../../common/errors.ts';
import type {
  StreamEncoding,
  StreamErrorNote,
  StreamMode,
  StreamStarted,
  StreamState,
  StreamStats,
  StreamStopped,
  StreamStopReason,
  StreamTracks,
} from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

/** What the service needs from the MediaServer. */
export interface StreamHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
  /** The legs of a bridge (NotFoundError BRIDGE_NOT_FOUND). */
  getBridge(id: string): { endpoint_a: string; endpoint_b: string };
  /** The worker a conference lives on (NotFoundError CONFERENCE_NOT_FOUND). */
  readonly conferences: { workerOf(id: string): number };
}

export type { StreamEncoding, StreamMode, StreamState, StreamStats, StreamStopReason, StreamTracks };

export interface StartStreamRequest {
  endpointId?: string;
  bridgeId?: string;
  conferenceId?: string;
  url: string;
  tracks?: StreamTracks;
  encoding?: StreamEncoding;
  sampleRate?: 8000 | 16000 | 24000;
  /**
   * Play the bot's audio to the endpoint, or mix it into the conference (default true for an
   * endpoint or a conference, refused for a bridge).
   */
  bidirectional?: boolean;
  mode?: StreamMode;
  /** Key/value strings for the bot (`start.customParameters`). */
  metadata?: Record<string, string>;
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  connectTimeoutMs?: number;
  reconnectAttempts?: number;
  reconnectDelayMs?: number;
  maxQueueMs?: number;
  /** The `callSid` the bot sees (a B2BUA's call id); default the endpoint id. */
  callSid?: string;
}

export interface StreamRecord {
  id: string;
  /** The endpoint streamed (a bridge's leg A); absent for a conference stream. */
  endpointId?: string;
  bridgeId?: string;
  conferenceId?: string;
  url: string;
  tracks: StreamTracks;
  encoding: StreamEncoding;
  sampleRate: number;
  bidirectional: boolean;
  mode: StreamMode;
  metadata: Record<string, string>;
  state: StreamState;
  createdAt: string;
  stoppedAt?: string;
  reason?: StreamStopReason;
  result?: Record<string, unknown>;
  /** The last connection error. */
  error?: { code: string; message: string };
  stats?: StreamStats;
}

/** How a stream ended (the flow step's outcome). */
export interface StreamOutcome {
  reason: StreamStopReason;
  result?: Record<string, unknown>;
}

export interface EndpointStreamOptions
  extends Omit<StartStreamRequest, 'endpointId' | 'bridgeId' | 'conferenceId' | 'url'> {
  /** Aborting stops the stream (reason stopped); stream() then resolves at once. */
  signal?: AbortSignal;
}

interface Entry {
  record: StreamRecord;
  workerIndex: number;
  done: Promise<StreamRecord>;
  resolve: (r: StreamRecord) => void;
}

const DEFAULTS = {
  connectTimeoutMs: 5000,
  reconnectAttempts: 2,
  reconnectDelayMs: 500,
  maxQueueMs: 10_000,
  /** About 2 s of 8 kHz Twilio media messages: beyond, the bot is not reading. */
  maxBufferedBytes: 64 * 1024,
};

/** A URL as events show it: no credentials, no query (where a token could be). */
function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}

/**
 * Media streams on the control plane: ids and state of every stream, `stream.*` requests to the
 * worker owning the endpoint (where the WebSocket client runs), state kept in step from the
 * engine's notifications, which become `stream.started` / `stream.stopped` / `stream.error`.
 * `stream()` is the awaitable form the flow step uses.
 */
export class StreamService {
  readonly #host: StreamHost;
  readonly #entries = new Map<string, Entry>();
  readonly #finishedOrder: string[] = [];
  readonly #keepFinished: number;

  constructor(host: StreamHost, opts: { keepFinished?: number } = {}) {
    this.#host = host;
    this.#keepFinished = opts.keepFinished ?? 1000;
  }

  onStarted(n: StreamStarted): void {
    const entry = this.#entries.get(n.streamId);
    if (entry !== undefined && entry.record.state !== 'stopped') entry.record.state = 'streaming';
    this.#host.events.publish('stream.started', wire.streamStarted(n, entry?.record.bridgeId, publicUrl(n.url)));
  }

  onError(n: StreamErrorNote): void {
    const entry = this.#entries.get(n.streamId);
    if (entry !== undefined) {
      entry.record.error = { code: n.code, message: n.message };
      if (n.willRetry && entry.record.state !== 'stopped') entry.record.state = 'reconnecting';
    }
    this.#host.events.publish('stream.error', wire.streamError(n, entry?.record.bridgeId));
  }

  onStopped(n: StreamStopped): void {
    const entry = this.#entries.get(n.streamId);
    if (entry !== undefined && entry.record.state !== 'stopped') {
      const r: Partial<StreamRecord> = { reason: n.reason, stats: n.stats };
      if (n.result !== undefined) r.result = n.result;
      this.#finish(entry, r);
    }
    this.#host.events.publish('stream.stopped', wire.streamStopped(n, entry?.record.bridgeId));
  }

  /** The worker died: its streams end (no notification will come). */
  workerDied(workerIndex: number): void {
    for (const entry of this.#entries.values()) {
      if (entry.workerIndex !== workerIndex || entry.record.state === 'stopped') continue;
      this.#finish(entry, { reason: 'worker_died' });
      this.#host.events.publish('stream.stopped', {
        stream_id: entry.record.id,
        ...(entry.record.endpointId !== undefined ? { endpoint_id: entry.record.endpointId } : {}),
        ...(entry.record.conferenceId !== undefined ? { conference_id: entry.record.conferenceId } : {}),
        ...(entry.record.bridgeId !== undefined ? { bridge_id: entry.record.bridgeId } : {}),
        reason: 'worker_died',
        frames_sent: 0,
        frames_dropped: 0,
        frames_received: 0,
        queue_overruns: 0,
      });
    }
  }

  /** A bridge ended: its streams stop with reason hangup. */
  bridgeClosed(bridgeId: string): void {
    for (const entry of this.#entries.values()) {
      if (entry.record.bridgeId !== bridgeId || entry.record.state === 'stopped') continue;
      this.#host
        .request(entry.workerIndex, 'stream.stop', { streamId: entry.record.id, reason: 'hangup' })
        .catch(() => undefined);
    }
  }

  #finish(entry: Entry, r: Partial<StreamRecord>): void {
    Object.assign(entry.record, r);
    entry.record.state = 'stopped';
    entry.record.stoppedAt = new Date().toISOString();
    this.#finishedOrder.push(entry.record.id);
    while (this.#finishedOrder.length > this.#keepFinished) this.#entries.delete(this.#finishedOrder.shift() as string);
    entry.resolve(entry.record);
  }

  /** Starts a stream; answers at once (state connecting), `stream.started` follows on connection. */
  async start(req: StartStreamRequest): Promise<StreamRecord> {
    return { ...(await this.#begin(req)).record };
  }

  async #begin(req: StartStreamRequest): Promise<Entry> {
    const targets = [req.endpointId, req.bridgeId, req.conferenceId].filter((t) => t !== undefined).length;
    if (targets !== 1)
      throw new ValidationError(
        'INVALID_STREAM',
        'exactly one of endpoint_id, bridge_id and conference_id is required',
      );
    let endpointId: string | undefined;
    let peerEndpointId: string | undefined;
    if (req.conferenceId !== undefined) {
      this.#host.conferences.workerOf(req.conferenceId); // CONFERENCE_NOT_FOUND first
      if ((req.tracks ?? 'inbound') !== 'inbound')
        throw new ValidationError(
          'INVALID_STREAM',
          'a conference stream has one track, inbound (the mix): the bot never hears itself',
        );
    } else if (req.bridgeId !== undefined) {
      const bridge = this.#host.getBridge(req.bridgeId);
      endpointId = bridge.endpoint_a;
      peerEndpointId = bridge.endpoint_b;
      if (req.bidirectional === true)
        throw new ValidationError(
          'INVALID_STREAM',
          'a bridge stream is listen-only: bidirectional applies to endpoints',
        );
      if (this.#host.workerOf(endpointId) !== this.#host.workerOf(peerEndpointId)) {
        throw new UnsupportedError(
          'STREAM_CROSS_WORKER',
          'the bridge legs live on different media workers; give them one affinity key',
        );
      }
    } else {
      endpointId = req.endpointId as string;
      if (!this.#host.hasEndpoint(endpointId))
        throw new NotFoundError('ENDPOINT_NOT_FOUND', `endpoint ${endpointId} not found`);
    }
    const workerIndex =
      endpointId !== undefined
        ? this.#host.workerOf(endpointId)
        : this.#host.conferences.workerOf(req.conferenceId as string);
    const mode = req.mode ?? 'twilio';
    const tracks = req.tracks ?? (req.bridgeId !== undefined ? 'both' : 'inbound');
    const encoding = req.encoding ?? (mode === 'binary' ? 'l16' : 'pcmu');
    const sampleRate = req.sampleRate ?? 8000;
    if (encoding === 'pcmu' && sampleRate !== 8000)
      throw new ValidationError('INVALID_STREAM', 'encoding pcmu is 8000 Hz only; use l16 for 16000 or 24000');
    if (mode === 'binary' && encoding !== 'l16')
      throw new ValidationError('INVALID_STREAM', 'binary mode carries l16 only');
    if (mode === 'binary' && tracks === 'both')
      throw new ValidationError('INVALID_STREAM', 'binary mode carries one track: inbound or outbound');
    const bidirectional = req.bidirectional ?? req.bridgeId === undefined;
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.token !== undefined) headers.Authorization = `Bearer ${req.token}`;
    const id = `MZ${randomUUID().replaceAll('-', '')}`;
    const record: StreamRecord = {
      id,
      ...(endpointId !== undefined ? { endpointId } : {}),
      ...(req.conferenceId !== undefined ? { conferenceId: req.conferenceId } : {}),
      url: req.url,
      tracks,
      encoding,
      sampleRate,
      bidirectional,
      mode,
      metadata: { ...(req.metadata ?? {}) },
      state: 'connecting',
      createdAt: new Date().toISOString(),
    };
    if (req.bridgeId !== undefined) record.bridgeId = req.bridgeId;
    let resolve: (r: StreamRecord) => void = () => undefined;
    const done = new Promise<StreamRecord>((r) => {
      resolve = r;
    });
    const entry: Entry = { record, workerIndex, done, resolve };
    // Registered before the request: the engine's events may arrive before its reply.
    this.#entries.set(id, entry);
    try {
      await this.#host.request(entry.workerIndex, 'stream.start', {
        streamId: id,
        ...(endpointId !== undefined ? { endpointId } : {}),
        ...(req.conferenceId !== undefined ? { conferenceId: req.conferenceId } : {}),
        ...(peerEndpointId !== undefined ? { peerEndpointId } : {}),
        url: req.url,
        tracks,
        encoding,
        sampleRate,
        bidirectional,
        mode,
        // A conference stream's bot learns which conference it is in (customParameters.conferenceId).
        customParameters:
          req.conferenceId !== undefined ? { conferenceId: req.conferenceId, ...record.metadata } : record.metadata,
        headers,
        connectTimeoutMs: req.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
        reconnect: {
          maxAttempts: req.reconnectAttempts ?? DEFAULTS.reconnectAttempts,
          delayMs: req.reconnectDelayMs ?? DEFAULTS.reconnectDelayMs,
        },
        maxQueueMs: req.maxQueueMs ?? DEFAULTS.maxQueueMs,
        maxBufferedBytes: DEFAULTS.maxBufferedBytes,
        callSid: req.callSid ?? endpointId ?? (req.conferenceId as string),
        accountSid: 'ACmediaservercore',
      });
    } catch (err) {
      this.#entries.delete(id);
      throw err;
    }
    return entry;
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new NotFoundError('STREAM_NOT_FOUND', `stream ${id} not found`);
    return entry;
  }

  /** One stream, with the worker's live counters while it runs. */
  async get(id: string): Promise<StreamRecord> {
    const entry = this.#entry(id);
    if (entry.record.state !== 'stopped') {
      try {
        const info = await this.#host.request(entry.workerIndex, 'stream.get', { streamId: id });
        if ((entry.record.state as StreamState) !== 'stopped') entry.record.stats = info.stats;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return { ...entry.record };
  }

  list(): StreamRecord[] {
    return [...this.#entries.values()].map((e) => ({ ...e.record }));
  }

  /** Stops a stream (idempotent); resolves once it has stopped. */
  async stop(id: string): Promise<StreamRecord> {
    const entry = this.#entry(id);
    if (entry.record.state !== 'stopped') {
      try {
        await this.#host.request(entry.workerIndex, 'stream.stop', { streamId: id });
      } catch (err) {
        if (!(err instanceof NotFoundError) && !(err instanceof InvalidStateError)) throw err;
      }
      await entry.done;
    }
    return { ...entry.record };
  }

  /**
   * Streams an endpoint to `url` and resolves when the stream ends: the bot closed it, sent its
   * result, hung up, failed; or `signal` aborted (then it is stopped and this resolves at once).
   */
  async stream(endpointId: string, url: string, opts: EndpointStreamOptions = {}): Promise<StreamOutcome> {
    const { signal, ...rest } = opts;
    if (signal?.aborted) return { reason: 'stopped' };
    const entry = await this.#begin({ ...rest, endpointId, url });
    const outcome = (r: StreamRecord): StreamOutcome =>
      r.result !== undefined ? { reason: r.reason ?? 'stopped', result: r.result } : { reason: r.reason ?? 'stopped' };
    if (signal === undefined) return outcome(await entry.done);
    return new Promise<StreamOutcome>((resolve) => {
      const onAbort = (): void => {
        this.stop(entry.record.id).catch(() => undefined);
        resolve({ reason: 'stopped' });
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      void entry.done.then((r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(outcome(r));
      });
    });
  }

  close(): void {}
}
