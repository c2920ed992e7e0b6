import { InvalidStateError, NotFoundError, ValidationError } from '../../common/errors.ts';
import type { FinishReason } from '../playback/Player.ts';
import type {
  Handlers,
  PlaybackFinished,
  PlaybackInfo,
  PlaybackItemOptions,
  PlaybackRequests,
  PlaybackStartParams,
  PlaybackState,
} from '../../protocol/index.ts';
import type { EndpointAudio } from './EndpointAudio.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { PlayerSource } from './playback/PlayerSource.ts';
import { preparePlayer, sharedPlaybackResources, type PlaybackResources } from './playback/playbackResources.ts';

interface Playback {
  readonly id: string;
  readonly endpointId: string;
  readonly audio: EndpointAudio;
  readonly abort: AbortController;
  state: PlaybackState;
  source: PlayerSource | undefined;
  /** A pause asked for while loading, applied when playing starts. */
  pauseWanted: boolean;
  reason: FinishReason | undefined;
  /** Release of the digit demand a barge-in playback holds on its endpoint (in-band DTMF). */
  releaseDigits: (() => void) | null;
  /** Stops watching the caller's talk (barge-in on speech). */
  offTalk: (() => void) | undefined;
}

const MAX_MEDIA_ITEMS = 200;
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The control plane is typed, but the worker still checks what identifies and what it loads. */
function str(v: unknown, key: string): string {
  if (typeof v !== 'string' || !ID.test(v))
    throw new ValidationError('INVALID_PLAYBACK', `${key} must be an id of 1..128 [A-Za-z0-9_.:-]`);
  return v;
}

function startParams(p: PlaybackStartParams): PlaybackStartParams {
  const out: PlaybackStartParams = {
    playbackId: str(p.playbackId, 'playbackId'),
    endpointId: str(p.endpointId, 'endpointId'),
    media: [],
  };
  const media: unknown = p.media;
  if (
    !Array.isArray(media) ||
    media.length === 0 ||
    media.length > MAX_MEDIA_ITEMS ||
    !media.every((m) => typeof m === 'string')
  ) {
    throw new ValidationError('INVALID_MEDIA', `media must be a list of 1..${MAX_MEDIA_ITEMS} strings`);
  }
  out.media = media;
  if (p.loop !== undefined) {
    if (typeof p.loop !== 'boolean' && !(typeof p.loop === 'number' && p.loop >= 0))
      throw new ValidationError('INVALID_PLAYBACK', 'loop must be a boolean or a count');
    out.loop = p.loop;
  }
  if (p.bargeIn !== undefined) {
    if (typeof p.bargeIn !== 'boolean' && !(typeof p.bargeIn === 'string' && /^[0-9*#A-Da-d]{1,16}$/.test(p.bargeIn))) {
      throw new ValidationError('INVALID_PLAYBACK', 'bargeIn must be a boolean or the DTMF digits that interrupt');
    }
    out.bargeIn = typeof p.bargeIn === 'string' ? p.bargeIn.toUpperCase() : p.bargeIn;
  }
  if (p.bargeInSpeech !== undefined) {
    if (typeof p.bargeInSpeech !== 'boolean')
      throw new ValidationError('INVALID_PLAYBACK', 'bargeInSpeech must be a boolean');
    out.bargeInSpeech = p.bargeInSpeech;
  }
  if (p.options !== undefined) {
    if (typeof p.options !== 'object' || p.options === null || Array.isArray(p.options))
      throw new ValidationError('INVALID_PLAYBACK', 'options must be an object');
    out.options = p.options as PlaybackItemOptions;
  }
  return out;
}

/**
 * Prompt playback and TTS on a worker's endpoints (`playback.*` requests).
 *
 * A playback prepares its playlist at the endpoint's PCM rate in the TTS and decode pool (off this
 * thread; prompts decoded and speech synthesised once, cached for every worker) and starts with its
 * first entry ready, later ones prepared while it plays; its Player becomes the
 * endpoint's outbound source on the 20 ms media clock; EndpointAudio keeps the RTP stream
 * continuous across the switch (SSRC kept, sequence and timestamp continue, marker on the jump).
 * One playback per endpoint: a new one replaces the current one, which finishes 'stopped'.
 *
 * Notifications: `playback.started {playbackId, endpointId}`,
 * `playback.finished {playbackId, endpointId, reason: done|stopped|barge_in|error, digit?, error?, playedMs}`.
 */
export class PlaybackEngine implements MediaEngine<PlaybackRequests> {
  readonly #ctx: WorkerContext;
  readonly #byId = new Map<string, Playback>();
  readonly #byEndpoint = new Map<string, Playback>();
  #resources: PlaybackResources | undefined;
  readonly #offDigit: () => void;
  readonly #counters = { started: 0, done: 0, stopped: 0, barge_in: 0, error: 0, failedToStart: 0 };
  #closed = false;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
    this.#offDigit = ctx.onDigit((endpointId, digit) => this.onDigit(endpointId, digit));
  }

  /** The worker's line to the TTS and decode pool, created on first use and shared with the conference engine. */
  get resources(): PlaybackResources {
    this.#resources ??= sharedPlaybackResources(this.#ctx.settings);
    return this.#resources;
  }

  readonly handlers: Handlers<PlaybackRequests> = {
    'playback.start': (p) => this.start(startParams(this.#open(p))),
    'playback.stop': (p) => this.stop(str(this.#open(p).playbackId, 'playbackId')),
    'playback.pause': (p) => this.pause(str(this.#open(p).playbackId, 'playbackId')),
    'playback.resume': (p) => this.resume(str(this.#open(p).playbackId, 'playbackId')),
    'playback.get': (p) => this.get(str(this.#open(p).playbackId, 'playbackId')),
    'playback.list': (p) => {
      this.#open(p);
      return [...this.#byId.values()].map((pb) => this.#info(pb));
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof PlaybackRequests>(method: M, params: PlaybackRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  /** Refuses requests once the worker shuts down; returns the params. */
  #open<P>(params: P): P {
    if (this.#closed) throw new InvalidStateError('WORKER_CLOSING', 'the media worker is shutting down');
    return params;
  }

  async start(p: PlaybackStartParams): Promise<PlaybackInfo> {
    if (this.#byId.has(p.playbackId)) throw new InvalidStateError('PLAYBACK_EXISTS', `playback ${p.playbackId} exists`);
    const audio = this.#ctx.audio(p.endpointId);
    // The playlist is resolved at the negotiated codec's rate; before negotiation there is none.
    if (audio.endpoint.media === null) {
      throw new InvalidStateError(
        'ENDPOINT_NOT_NEGOTIATED',
        `endpoint ${p.endpointId} has no negotiated media yet (no remote SDP)`,
      );
    }
    const pb: Playback = {
      id: p.playbackId,
      endpointId: p.endpointId,
      audio,
      abort: new AbortController(),
      state: 'loading',
      source: undefined,
      pauseWanted: false,
      reason: undefined,
      // Barge-in consumes the endpoint's digits: in-band detection runs there from now on, so a
      // press that begins while the playlist loads is heard.
      releaseDigits: p.bargeIn !== undefined && p.bargeIn !== false ? this.#ctx.wantDigits(p.endpointId) : null,
      offTalk: undefined,
    };
    // A playback still loading on this endpoint is superseded now; a playing one when this one
    // is ready (so a bad playlist leaves the current playback alone).
    const previous = this.#byEndpoint.get(p.endpointId);
    if (previous !== undefined && previous.state === 'loading') previous.abort.abort();
    this.#byId.set(pb.id, pb);
    this.#byEndpoint.set(pb.endpointId, pb);
    let source: PlayerSource;
    try {
      const opts: Parameters<typeof preparePlayer>[3] = { signal: pb.abort.signal };
      if (p.loop !== undefined) opts.loop = p.loop;
      if (p.bargeIn !== undefined) opts.bargeIn = p.bargeIn;
      if (p.options !== undefined) opts.itemOptions = p.options;
      source = await preparePlayer(this.resources, p.media, audio.sampleRate, opts);
    } catch (err) {
      this.#forget(pb);
      if (pb.abort.signal.aborted) return this.#finishUnstarted(pb);
      this.#counters.failedToStart++;
      throw err;
    }
    if (pb.abort.signal.aborted) {
      this.#forget(pb);
      return this.#finishUnstarted(pb);
    }
    pb.source = source;
    const sendDtmf = this.#ctx.sendDtmf;
    if (sendDtmf !== undefined) {
      const endpointId = pb.endpointId;
      source.useEventSender((digits, durationMs) => sendDtmf(endpointId, digits, durationMs));
    }
    source.player.on('finished', (reason, info) => this.#onFinished(pb, reason, info));
    const watchTalk = this.#ctx.watchTalk;
    if (p.bargeInSpeech === true && watchTalk !== undefined) {
      // Talk that starts while the prompt plays stops it; talk already going on when it starts does not.
      const player = source.player;
      pb.offTalk = watchTalk(pb.endpointId, {
        onTalk: (talking) => {
          if (talking && pb.state !== 'finished') player.bargeInSpeech();
        },
      }).off;
    }
    pb.state = 'playing';
    if (pb.pauseWanted) {
      source.player.pause();
      pb.state = 'paused';
    }
    this.#counters.started++;
    // Replaces (and so stops: its 'finished' comes first) the endpoint's current playback, or
    // suppresses the bridge relay.
    audio.setSource(source, null);
    this.#ctx.notify('playback.started', { playbackId: pb.id, endpointId: pb.endpointId });
    return this.#info(pb);
  }

  /** A playback that was stopped (or superseded, or lost its endpoint) while it was loading. */
  #finishUnstarted(pb: Playback): PlaybackInfo {
    pb.state = 'finished';
    pb.reason = 'stopped';
    this.#counters.stopped++;
    this.#ctx.notify('playback.finished', {
      playbackId: pb.id,
      endpointId: pb.endpointId,
      reason: 'stopped',
      playedMs: 0,
    });
    return this.#info(pb);
  }

  #onFinished(
    pb: Playback,
    reason: FinishReason,
    info: { digit?: string; error?: Error; playedSamples: number },
  ): void {
    if (pb.state === 'finished') return;
    pb.state = 'finished';
    pb.reason = reason;
    pb.offTalk?.();
    pb.offTalk = undefined;
    this.#forget(pb);
    this.#counters[reason]++;
    // 'done' is reported from inside fill(): the endpoint drops the source itself on the next
    // tick. Otherwise (stop, barge-in, error) give the endpoint back to the relay now, unless the
    // source was already replaced or the endpoint is closing.
    if (reason !== 'done' && pb.source !== undefined && pb.audio.source === pb.source) pb.audio.setSource(null);
    const payload: PlaybackFinished = {
      playbackId: pb.id,
      endpointId: pb.endpointId,
      reason,
      playedMs: Math.round((info.playedSamples * 1000) / (pb.source?.sampleRate ?? 8000)),
    };
    if (info.digit !== undefined) payload.digit = info.digit;
    if (info.error !== undefined) payload.error = info.error.message;
    this.#ctx.notify('playback.finished', payload);
  }

  #forget(pb: Playback): void {
    pb.releaseDigits?.();
    pb.releaseDigits = null;
    if (this.#byId.get(pb.id) === pb) this.#byId.delete(pb.id);
    if (this.#byEndpoint.get(pb.endpointId) === pb) this.#byEndpoint.delete(pb.endpointId);
  }

  #get(id: string): Playback {
    const pb = this.#byId.get(id);
    if (pb === undefined) throw new NotFoundError('PLAYBACK_NOT_FOUND', `playback ${id} not found`);
    return pb;
  }

  /** Stops a playback (reason 'stopped'); the endpoint goes back to its bridge relay or silence. */
  stop(id: string): PlaybackInfo {
    const pb = this.#get(id);
    if (pb.state === 'loading') pb.abort.abort();
    else pb.source?.player.stop();
    return this.#info(pb);
  }

  pause(id: string): PlaybackInfo {
    const pb = this.#get(id);
    if (pb.state === 'loading') {
      pb.pauseWanted = true;
    } else if (pb.state === 'playing' && pb.source !== undefined) {
      pb.source.player.pause();
      pb.state = 'paused';
    }
    return this.#info(pb);
  }

  resume(id: string): PlaybackInfo {
    const pb = this.#get(id);
    if (pb.state === 'loading') {
      pb.pauseWanted = false;
    } else if (pb.state === 'paused' && pb.source !== undefined) {
      pb.source.player.resume();
      pb.state = 'playing';
    }
    return this.#info(pb);
  }

  get(id: string): PlaybackInfo {
    return this.#info(this.#get(id));
  }

  /**
   * A DTMF digit was detected on an endpoint: barge-in stops its playback when enabled for that
   * digit. Called through WorkerContext.onDigit (the DTMF engine emits digits there).
   */
  onDigit(endpointId: string, digit: string): boolean {
    const pb = this.#byEndpoint.get(endpointId);
    if (pb === undefined || pb.source === undefined || pb.state === 'finished') return false;
    return pb.source.player.bargeIn(digit);
  }

  onEndpointClosed(endpointId: string): void {
    const pb = this.#byEndpoint.get(endpointId);
    if (pb === undefined) return;
    if (pb.state === 'loading') pb.abort.abort();
    else pb.source?.player.stop();
  }

  #info(pb: Playback): PlaybackInfo {
    const player = pb.source?.player;
    const info: PlaybackInfo = {
      playbackId: pb.id,
      endpointId: pb.endpointId,
      state: pb.state,
      index: player?.index ?? 0,
      pass: player?.pass ?? 0,
      playedMs: player === undefined ? 0 : Math.round((player.playedSamples * 1000) / player.sampleRate),
    };
    if (pb.reason !== undefined) info.reason = pb.reason;
    return info;
  }

  metrics(): Record<string, number> {
    const c = this.#counters;
    const out: Record<string, number> = {
      active: this.#byId.size,
      started: c.started,
      finished_done: c.done,
      finished_stopped: c.stopped,
      finished_barge_in: c.barge_in,
      finished_error: c.error,
      failed_to_start: c.failedToStart,
    };
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offDigit();
    for (const pb of [...this.#byId.values()]) {
      if (pb.state === 'loading') pb.abort.abort();
      else pb.source?.player.stop();
    }
    this.#resources?.close();
  }
}
