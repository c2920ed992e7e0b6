import { MediaServerError, UnsupportedError } from '../common/errors.ts';
import { DestinationPolicy } from '../common/net/DestinationPolicy.ts';
import type {
  ConferenceOptions,
  FlowEngines,
  HttpFetcher,
  LeaveResult,
  PlayOptions,
  PlayResult,
  RecordOptions,
  RecordResult,
  SayOptions,
} from '../flows/FlowEngines.ts';
import { guardedFetcher } from '../flows/FlowEngines.ts';
import type { MediaServer } from './MediaServer.ts';
import type { ServerEvent } from './types.ts';

/** What a flow's `record` step asks of the recording service (the REST body's names). */
export interface FlowRecordOptions {
  format: 'wav' | 'mp3' | 'opus';
  name?: string;
  max_duration_ms?: number;
  max_silence_ms?: number;
  terminate_on?: string;
  beep?: boolean;
}

/** The engine services the flows use; each is optional until its engine is present. */
export interface FlowMediaServices {
  playback?: {
    play(endpointId: string, items: readonly string[], opts: { bargeIn: boolean; signal: AbortSignal; voice?: string }): Promise<{ reason: string; digit?: string }>;
  };
  recordings?: {
    record(endpointId: string, opts: FlowRecordOptions, signal: AbortSignal): Promise<{ path: string; durationMs: number; cause: string; digit?: string }>;
  };
  conferences?: {
    join(endpointId: string, room: string, opts: Record<string, unknown>, signal: AbortSignal): Promise<{ reason: string }>;
  };
}

const PLAY_REASONS: Record<string, PlayResult['reason']> = {
  done: 'finished', finished: 'finished', barge_in: 'dtmf', dtmf: 'dtmf', stopped: 'stopped', hangup: 'hangup',
};

const RECORD_CAUSES: Record<string, RecordResult['cause']> = {
  dtmf: 'terminator', terminator: 'terminator', silence: 'silence', max_duration: 'max_duration',
  hangup: 'hangup', stopped: 'stopped',
};

/**
 * FlowEngines over the real media server: the flow runtime's play/record/collect/bridge/
 * conference reach the media workers through the control plane's services and the event bus.
 */
export class MediaFlowEngines implements FlowEngines {
  readonly #server: MediaServer;
  readonly #services: FlowMediaServices;
  /** `http` steps; the flows' default client (fetchHttp) without one. */
  readonly http?: HttpFetcher;

  constructor(server: MediaServer, services: FlowMediaServices, http?: HttpFetcher) {
    this.#server = server;
    this.#services = services;
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
    return new MediaFlowEngines(server, {
      playback: server.playback,
      recordings: server.recordings,
      conferences: server.conferences,
    }, guardedFetcher(policy));
  }

  async play(endpointId: string, items: readonly string[], opts: PlayOptions & { voice?: string }): Promise<PlayResult> {
    const playback = this.#services.playback;
    if (!playback) throw new UnsupportedError('PLAYBACK_UNAVAILABLE', 'the playback engine is not available');
    // say's voice selects the TTS voice
    const r = await playback.play(endpointId, items, { bargeIn: opts.bargeIn, signal: opts.signal, ...(opts.voice ? { voice: opts.voice } : {}) });
    // A failed playback is the step's error (on_error), not a prompt that was heard.
    if (r.reason === 'error') throw new MediaServerError('PLAYBACK_FAILED', `playback on endpoint ${endpointId} ended in error`);
    return { reason: PLAY_REASONS[r.reason] ?? 'stopped', ...(r.digit ? { digit: r.digit } : {}) };
  }

  say(endpointId: string, text: string, opts: SayOptions): Promise<PlayResult> {
    return this.play(endpointId, [`tts:${text}`], opts);
  }

  async record(endpointId: string, opts: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
    const recordings = this.#services.recordings;
    if (!recordings) throw new UnsupportedError('RECORDING_UNAVAILABLE', 'the recording engine is not available');
    const r = await recordings.record(endpointId, {
      format: opts.format,
      ...(opts.path ? { name: opts.path } : {}),
      max_duration_ms: opts.maxDurationMs,
      max_silence_ms: opts.silenceTimeoutMs,
      terminate_on: opts.terminators,
      beep: opts.beep,
    }, signal);
    return { path: r.path, durationMs: r.durationMs, cause: RECORD_CAUSES[r.cause] ?? 'stopped', ...(r.digit ? { digit: r.digit } : {}) };
  }

  async joinConference(endpointId: string, room: string, opts: ConferenceOptions, signal: AbortSignal): Promise<LeaveResult> {
    const conferences = this.#services.conferences;
    if (!conferences) throw new UnsupportedError('CONFERENCE_UNAVAILABLE', 'the conference engine is not available');
    const r = await conferences.join(endpointId, room, opts, signal);
    return { reason: (r.reason as LeaveResult['reason']) ?? 'left' };
  }

  async bridge(endpointId: string, targetEndpointId: string, _opts: Record<string, unknown>, signal: AbortSignal): Promise<LeaveResult> {
    const bridge = await this.#server.createBridge({ endpoint_a: endpointId, endpoint_b: targetEndpointId });
    return new Promise<LeaveResult>((resolve) => {
      const finish = (reason: LeaveResult['reason']) => {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
        resolve({ reason });
      };
      const unsubscribe = this.#server.events.subscribe((e) => {
        if (e.type === 'bridge.deleted' && e.bridge_id === bridge.id) {
          // deleting a leg deletes its bridge first: the event names the leg that hung up
          if (e.reason === 'deleted') finish('ended');
          else finish(e.reason === 'endpoint_deleted' && e.endpoint_id === targetEndpointId ? 'peer_hangup' : 'hangup');
        }
        else if (e.type === 'endpoint.deleted' && e.endpoint_id === targetEndpointId) finish('peer_hangup');
        else if (e.type === 'endpoint.deleted' && e.endpoint_id === endpointId) finish('hangup');
      });
      const onAbort = () => {
        this.#server.deleteBridge(bridge.id).catch(() => {});
        finish('stopped');
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async hangup(endpointId: string): Promise<void> {
    if (this.#server.hasEndpoint(endpointId)) await this.#server.deleteEndpoint(endpointId);
  }

  onDtmf(endpointId: string, cb: (digit: string) => void): () => void {
    // keyed by endpoint in the DTMF service: a session hears its own caller's keys only
    return this.#server.dtmf.onDigit(endpointId, (press) => cb(press.digit));
  }

  onHangup(endpointId: string, cb: (cause: string) => void): () => void {
    return this.#server.events.subscribe((e: ServerEvent) => {
      if (e.endpoint_id !== endpointId) return;
      if (e.type === 'endpoint.deleted') cb(String(e.reason ?? 'deleted'));
      else if (e.type === 'endpoint.media_timeout') cb('media_timeout');
      else if (e.type === 'endpoint.rtcp_bye') cb('rtcp_bye');
    });
  }

  endpointExists(endpointId: string): boolean {
    return this.#server.hasEndpoint(endpointId);
  }
}
