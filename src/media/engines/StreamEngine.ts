import { InvalidStateError, NotFoundError, ValidationError } from '../../common/errors.ts';
import type { Handlers, StreamInfo, StreamRequests, StreamStartParams } from '../../protocol/index.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { findConference } from './ConferenceEngine.ts';
import { BotStream } from './stream/BotStream.ts';
import { ConferenceTarget } from './stream/ConferenceTarget.ts';
import { EndpointTarget } from './stream/EndpointTarget.ts';
import type { StreamTarget } from './stream/StreamTarget.ts';

/** The stream's subject in its notifications: its endpoint, or its conference. */
function subject(s: BotStream): { endpointId?: string; conferenceId?: string } {
  return s.conferenceId !== undefined ? { conferenceId: s.conferenceId } : { endpointId: s.endpointId as string };
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

/** The control plane checks the request; the worker still checks what it connects to and sends. */
function checked(p: StreamStartParams): StreamStartParams {
  const id = (v: unknown, key: string): string => {
    if (typeof v !== 'string' || !ID.test(v))
      throw new ValidationError('INVALID_STREAM', `${key} must be an id of 1..128 [A-Za-z0-9_.:-]`);
    return v;
  };
  id(p.streamId, 'streamId');
  if ((p.endpointId === undefined) === (p.conferenceId === undefined))
    throw new ValidationError('INVALID_STREAM', 'exactly one of endpointId and conferenceId is required');
  if (p.endpointId !== undefined) id(p.endpointId, 'endpointId');
  if (p.conferenceId !== undefined) {
    id(p.conferenceId, 'conferenceId');
    if (p.peerEndpointId !== undefined || p.tracks !== 'inbound')
      throw new ValidationError('INVALID_STREAM', 'a conference stream has one track: inbound (the mix)');
  }
  if (p.peerEndpointId !== undefined) id(p.peerEndpointId, 'peerEndpointId');
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    throw new ValidationError('INVALID_STREAM_URL', 'url must be a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw new ValidationError('INVALID_STREAM_URL', 'url must be a ws:// or wss:// URL');
  if (![8000, 16000, 24000].includes(p.sampleRate))
    throw new ValidationError('INVALID_STREAM', 'sampleRate must be 8000, 16000 or 24000');
  if (p.encoding === 'pcmu' && p.sampleRate !== 8000)
    throw new ValidationError('INVALID_STREAM', 'pcmu is 8000 Hz only');
  for (const [k, v] of Object.entries(p.headers)) {
    if (!HEADER_NAME.test(k) || typeof v !== 'string' || /[\r\n]/.test(v))
      throw new ValidationError('INVALID_STREAM', `header ${k} is not a valid HTTP header`);
  }
  return p;
}

/**
 * Media streams on a worker's endpoints (`stream.*` requests): each a BotStream, whose WebSocket
 * client lives here, next to the endpoint's audio, so no audio crosses threads per frame and the
 * media clock never waits on a socket.
 *
 * Digits pressed on an endpoint (ctx.onDigit) are forwarded to its streams as `dtmf`; an endpoint
 * that closes (hang-up) stops its streams with reason `hangup` (the bot gets `stop`).
 *
 * Notifications: `stream.started {streamId, endpointId, url, mode}` once the bot is connected,
 * `stream.error {code, message, willRetry}` per failed attempt or bad message,
 * `stream.stopped {reason, stats, result?}` once.
 */
export class StreamEngine implements MediaEngine<StreamRequests> {
  readonly #ctx: WorkerContext;
  readonly #streams = new Map<string, BotStream>();
  readonly #offDigit: () => void;
  readonly #counters = {
    started: 0,
    stopped: 0,
    framesSent: 0,
    framesDropped: 0,
    framesReceived: 0,
    queueOverruns: 0,
    overrunSamples: 0,
    connectFailures: 0,
  };
  #closed = false;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
    this.#offDigit = ctx.onDigit((endpointId, digit) => {
      for (const s of this.#streams.values()) if (s.endpointId === endpointId) s.dtmf(digit);
    });
  }

  readonly handlers: Handlers<StreamRequests> = {
    'stream.start': (p) => this.start(checked(this.#open(p))),
    'stream.stop': (p) => {
      const s = this.#get(this.#open(p).streamId);
      s.stop(p.reason === 'hangup' ? 'hangup' : 'stopped');
      return s.info();
    },
    'stream.get': (p) => this.#get(p.streamId).info(),
  };

  handle<M extends keyof StreamRequests>(method: M, params: StreamRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  #open<P>(params: P): P {
    if (this.#closed) throw new InvalidStateError('WORKER_CLOSING', 'the media worker is shutting down');
    return params;
  }

  #get(id: string): BotStream {
    const s = this.#streams.get(id);
    if (s === undefined) throw new NotFoundError('STREAM_NOT_FOUND', `stream ${id} not found`);
    return s;
  }

  start(p: StreamStartParams): StreamInfo {
    if (this.#streams.has(p.streamId)) throw new InvalidStateError('STREAM_EXISTS', `stream ${p.streamId} exists`);
    const stream = new BotStream(p, this.#target(p), {
      started: (s) => {
        this.#counters.started++;
        this.#ctx.notify('stream.started', {
          streamId: s.id,
          ...subject(s),
          url: s.params.url,
          mode: s.params.mode,
        });
      },
      error: (s, note) => {
        if (note.code !== 'BAD_MESSAGE') this.#counters.connectFailures++;
        this.#ctx.notify('stream.error', { streamId: s.id, ...subject(s), ...note });
      },
      stopped: (s, reason, result) => {
        this.#streams.delete(s.id);
        const info = s.info();
        const c = this.#counters;
        c.stopped++;
        c.framesSent += info.stats.framesSent;
        c.framesDropped += info.stats.framesDropped;
        c.framesReceived += info.stats.framesReceived;
        c.queueOverruns += info.stats.queueOverruns;
        c.overrunSamples += info.stats.overrunSamples;
        this.#ctx.notify('stream.stopped', {
          streamId: s.id,
          ...subject(s),
          reason,
          stats: info.stats,
          ...(result !== undefined ? { result } : {}),
        });
      },
    });
    this.#streams.set(p.streamId, stream);
    stream.start();
    return stream.info();
  }

  /** Where the stream attaches: its endpoint (and a bridge's other leg), or its conference. */
  #target(p: StreamStartParams): StreamTarget {
    if (p.conferenceId !== undefined) {
      const room = findConference(this.#ctx, p.conferenceId);
      if (room === undefined || room.ended)
        throw new NotFoundError('CONFERENCE_NOT_FOUND', `no conference ${p.conferenceId}`);
      // The room removes the member before it says it ended; the stream only has to stop.
      return new ConferenceTarget(room, p.streamId, () => this.#streams.get(p.streamId)?.stop('conference_ended'));
    }
    const endpointId = p.endpointId as string;
    const audio = this.#ctx.audio(endpointId);
    if (audio.endpoint.media === null) {
      throw new InvalidStateError(
        'ENDPOINT_NOT_NEGOTIATED',
        `endpoint ${endpointId} has no negotiated media yet (no remote SDP)`,
      );
    }
    const peer = p.peerEndpointId !== undefined ? this.#ctx.audio(p.peerEndpointId) : null;
    return new EndpointTarget(audio, peer);
  }

  onEndpointClosed(endpointId: string): void {
    for (const s of [...this.#streams.values()]) {
      if (s.endpointId === endpointId || s.peerEndpointId === endpointId) s.stop('hangup');
    }
  }

  metrics(): Record<string, number> {
    const c = this.#counters;
    let sent = c.framesSent;
    let dropped = c.framesDropped;
    let received = c.framesReceived;
    let overruns = c.queueOverruns;
    let overrunSamples = c.overrunSamples;
    for (const s of this.#streams.values()) {
      const st = s.info().stats;
      sent += st.framesSent;
      dropped += st.framesDropped;
      received += st.framesReceived;
      overruns += st.queueOverruns;
      overrunSamples += st.overrunSamples;
    }
    return {
      active: this.#streams.size,
      started: c.started,
      stopped: c.stopped,
      framesSent: sent,
      framesDropped: dropped,
      framesReceived: received,
      queueOverruns: overruns,
      overrunSamples,
      connectFailures: c.connectFailures,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offDigit();
    for (const s of [...this.#streams.values()]) s.stop('shutdown');
  }
}
