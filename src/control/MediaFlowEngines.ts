import { MediaServerError } from '../common/errors.ts';
import { DestinationPolicy } from '../common/net/DestinationPolicy.ts';
import type { AmdParameters } from '../common/amdParameters.ts';
import type {
  AmdResult,
  ConferenceOptions,
  FlowEngines,
  HttpFetcher,
  LeaveResult,
  PlayOptions,
  PlayResult,
  RecognizeOptions,
  RecognizeResult,
  RecordOptions,
  RecordResult,
  SayOptions,
  StreamStepOptions,
  StreamStepResult,
} from '../flows/FlowEngines.ts';
import { guardedFetcher } from '../flows/FlowEngines.ts';
import type { EndpointEndCause, MediaServer } from './MediaServer.ts';
import type { EndpointStreamOptions, StreamService } from './services/StreamService.ts';

/** What a flow's `record` step asks of the recording service (the REST body's names). */
export interface FlowRecordOptions {
  format: 'wav' | 'mp3' | 'opus';
  name?: string;
  max_duration_ms?: number;
  max_silence_ms?: number;
  terminate_on?: string;
  beep?: boolean;
}

/**
 * What the flows use of the MediaServer: its engine services and the per-endpoint and per-bridge
 * end listeners (a session hears its own call only). MediaServer is one; tests fake it.
 */
export interface FlowMediaHost {
  readonly playback: {
    play(
      endpointId: string,
      items: readonly string[],
      opts: { bargeIn: boolean; bargeInSpeech?: boolean; signal: AbortSignal; voice?: string },
    ): Promise<{ reason: string; digit?: string }>;
  };
  readonly recordings: {
    record(
      endpointId: string,
      opts: FlowRecordOptions,
      signal: AbortSignal,
    ): Promise<{ path: string; durationMs: number; cause: string; digit?: string }>;
  };
  readonly conferences: {
    join(
      endpointId: string,
      room: string,
      opts: Record<string, unknown>,
      signal: AbortSignal,
    ): Promise<{ reason: string }>;
  };
  readonly dtmf: Pick<MediaServer['dtmf'], 'onDigit'>;
  /** Answering-machine detection (the `amd` step); without it the step fails. */
  readonly amd?: Pick<MediaServer['amd'], 'detect'>;
  /** Speech recognition (flows' speech input); without it `recognize` rejects. */
  readonly speech?: Pick<MediaServer['speech'], 'recognize'>;
  /** Media streams for `stream` steps (absent: the step fails). */
  readonly streams?: Pick<StreamService, 'stream'>;
  createBridge: MediaServer['createBridge'];
  deleteBridge: MediaServer['deleteBridge'];
  deleteEndpoint: MediaServer['deleteEndpoint'];
  hasEndpoint: MediaServer['hasEndpoint'];
  onEndpointEnd: MediaServer['onEndpointEnd'];
  onBridgeEnd: MediaServer['onBridgeEnd'];
}

const PLAY_REASONS: Record<string, PlayResult['reason']> = {
  done: 'finished',
  finished: 'finished',
  barge_in: 'dtmf',
  dtmf: 'dtmf',
  stopped: 'stopped',
  hangup: 'hangup',
};

const RECORD_CAUSES: Record<string, RecordResult['cause']> = {
  dtmf: 'terminator',
  terminator: 'terminator',
  silence: 'silence',
  max_duration: 'max_duration',
  hangup: 'hangup',
  stopped: 'stopped',
};

/**
 * FlowEngines over the real media server: the flow runtime's play/record/collect/bridge/
 * conference reach the media workers through the MediaServer's own services; the ends of a call
 * (hangup, bridge ended) come from its per-endpoint and per-bridge listeners, not the public bus.
 */
export class MediaFlowEngines implements FlowEngines {
  readonly #server: FlowMediaHost;
  /** `http` steps; the flows' default client (fetchHttp) without one. */
  readonly http?: HttpFetcher;

  constructor(server: FlowMediaHost, http?: HttpFetcher) {
    this.#server = server;
    if (http !== undefined) this.http = http;
  }

  /** Engines over the server's own playback, recording and conference services. */
  static forServer(server: MediaServer): MediaFlowEngines {
    const c = server.config;
    // http steps under FLOW_HTTP_ALLOW / FLOW_HTTP_DENY
    const policy = new DestinationPolicy({
      allowLocal: true,
      allow: c.flowHttpAllow,
      deny: c.flowHttpDeny,
      settings: { allow: 'FLOW_HTTP_ALLOW', deny: 'FLOW_HTTP_DENY' },
    });
    return new MediaFlowEngines(server, guardedFetcher(policy));
  }

  async play(
    endpointId: string,
    items: readonly string[],
    opts: PlayOptions & { voice?: string },
  ): Promise<PlayResult> {
    // say's voice selects the TTS voice
    const r = await this.#server.playback.play(endpointId, items, {
      bargeIn: opts.bargeIn,
      signal: opts.signal,
      ...(opts.bargeInSpeech === true ? { bargeInSpeech: true } : {}),
      ...(opts.voice ? { voice: opts.voice } : {}),
    });
    // A failed playback is the step's error (on_error), not a prompt that was heard.
    if (r.reason === 'error')
      throw new MediaServerError('PLAYBACK_FAILED', `playback on endpoint ${endpointId} ended in error`);
    // A barge-in without a digit was the caller talking.
    if (r.reason === 'barge_in' && r.digit === undefined) return { reason: 'speech' };
    return { reason: PLAY_REASONS[r.reason] ?? 'stopped', ...(r.digit ? { digit: r.digit } : {}) };
  }

  say(endpointId: string, text: string, opts: SayOptions): Promise<PlayResult> {
    return this.play(endpointId, [`tts:${text}`], opts);
  }

  async recognize(endpointId: string, opts: RecognizeOptions, signal: AbortSignal): Promise<RecognizeResult> {
    const speech = this.#server.speech;
    if (speech === undefined) throw new MediaServerError('NO_RECOGNIZER', 'speech recognition is not available');
    const r = await speech.recognize(endpointId, { ...opts, signal });
    if (r.status === 'error')
      throw new MediaServerError('SPEECH_FAILED', r.error ?? `speech recognition on endpoint ${endpointId} failed`);
    // Stopped: the step was left (a key won, hangup) or the endpoint closed; nothing was recognised.
    if (r.status === 'stopped') return { status: 'no_input', transcript: '', confidence: 0 };
    return { status: r.status, transcript: r.transcript, confidence: r.confidence };
  }

  async record(endpointId: string, opts: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
    const r = await this.#server.recordings.record(
      endpointId,
      {
        format: opts.format,
        ...(opts.path ? { name: opts.path } : {}),
        max_duration_ms: opts.maxDurationMs,
        max_silence_ms: opts.silenceTimeoutMs,
        terminate_on: opts.terminators,
        beep: opts.beep,
      },
      signal,
    );
    return {
      path: r.path,
      durationMs: r.durationMs,
      cause: RECORD_CAUSES[r.cause] ?? 'stopped',
      ...(r.digit ? { digit: r.digit } : {}),
    };
  }

  async amd(endpointId: string, parameters: Partial<AmdParameters>, signal: AbortSignal): Promise<AmdResult> {
    const service = this.#server.amd;
    if (service === undefined)
      throw new MediaServerError('AMD_UNAVAILABLE', 'answering-machine detection is not available');
    const d = await service.detect(endpointId, parameters, signal);
    if (d.result === 'human' || d.result === 'machine' || d.result === 'notsure') {
      return {
        result: d.result,
        cause: d.cause ?? '',
        detail: d.detail,
        analysedMs: d.analysed_ms,
        voiceMs: d.voice_ms,
        words: d.words,
      };
    }
    // The endpoint went away first: the flow's hangup handling leaves the step and aborts this.
    return new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  async joinConference(
    endpointId: string,
    room: string,
    opts: ConferenceOptions,
    signal: AbortSignal,
  ): Promise<LeaveResult> {
    const r = await this.#server.conferences.join(endpointId, room, opts, signal);
    return { reason: (r.reason as LeaveResult['reason']) ?? 'left' };
  }

  async bridge(
    endpointId: string,
    targetEndpointId: string,
    _opts: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<LeaveResult> {
    const bridge = await this.#server.createBridge({ endpoint_a: endpointId, endpoint_b: targetEndpointId });
    return new Promise<LeaveResult>((resolve) => {
      const finish = (reason: LeaveResult['reason']) => {
        for (const off of offs) off();
        signal.removeEventListener('abort', onAbort);
        resolve({ reason });
      };
      // Closing a leg ends its bridge first (the end names the leg); at shutdown the legs close
      // with their bridge still standing, so their own ends count too.
      const legClosed = (who: 'peer_hangup' | 'hangup') => (cause: EndpointEndCause) => {
        if (cause !== 'media_timeout' && cause !== 'rtcp_bye') finish(who);
      };
      const offs = [
        this.#server.onBridgeEnd(bridge.id, (end) => {
          if (end.reason === 'deleted') finish('ended');
          else
            finish(end.reason === 'endpoint_deleted' && end.endpointId === targetEndpointId ? 'peer_hangup' : 'hangup');
        }),
        this.#server.onEndpointEnd(targetEndpointId, legClosed('peer_hangup')),
        this.#server.onEndpointEnd(endpointId, legClosed('hangup')),
      ];
      const onAbort = () => {
        this.#server.deleteBridge(bridge.id).catch(() => {});
        finish('stopped');
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async stream(endpointId: string, opts: StreamStepOptions, signal: AbortSignal): Promise<StreamStepResult> {
    const streams = this.#server.streams;
    if (streams === undefined) throw new MediaServerError('STREAMS_UNAVAILABLE', 'this server has no media streams');
    const o: EndpointStreamOptions = { signal, metadata: opts.parameters };
    if (opts.tracks !== undefined) o.tracks = opts.tracks;
    if (opts.encoding !== undefined) o.encoding = opts.encoding;
    if (opts.sampleRate !== undefined) o.sampleRate = opts.sampleRate;
    if (opts.mode !== undefined) o.mode = opts.mode;
    if (opts.bidirectional !== undefined) o.bidirectional = opts.bidirectional;
    if (opts.token !== undefined) o.token = opts.token;
    if (opts.headers !== undefined) o.headers = opts.headers;
    if (opts.connectTimeoutMs !== undefined) o.connectTimeoutMs = opts.connectTimeoutMs;
    if (opts.maxQueueMs !== undefined) o.maxQueueMs = opts.maxQueueMs;
    if (opts.reconnectAttempts !== undefined) o.reconnectAttempts = opts.reconnectAttempts;
    if (opts.reconnectDelayMs !== undefined) o.reconnectDelayMs = opts.reconnectDelayMs;
    const r = await streams.stream(endpointId, opts.url, o);
    return r.result !== undefined ? { reason: r.reason, result: r.result } : { reason: r.reason };
  }

  async hangup(endpointId: string): Promise<void> {
    if (this.#server.hasEndpoint(endpointId)) await this.#server.deleteEndpoint(endpointId);
  }

  onDtmf(endpointId: string, cb: (digit: string) => void): () => void {
    // keyed by endpoint in the DTMF service: a session hears its own caller's keys only
    return this.#server.dtmf.onDigit(endpointId, (press) => cb(press.digit));
  }

  onHangup(endpointId: string, cb: (cause: string) => void): () => void {
    // keyed by endpoint in the MediaServer: a session hears its own caller's end only
    return this.#server.onEndpointEnd(endpointId, cb);
  }

  endpointExists(endpointId: string): boolean {
    return this.#server.hasEndpoint(endpointId);
  }
}
