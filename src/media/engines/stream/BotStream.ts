import WebSocket, { type RawData } from 'ws';
import { linearToUlaw, ulawToLinear } from '../../codecs/g711.ts';
import { Resampler } from '../../dsp/Resampler.ts';
import type {
  StreamErrorNote,
  StreamInfo,
  StreamStartParams,
  StreamState,
  StreamStats,
  StreamStopReason,
} from '../../../protocol/index.ts';
import { BotAudioQueue } from './BotAudioQueue.ts';
import type { StreamListener, StreamTarget } from './StreamTarget.ts';
import { TrackFeed } from './TrackFeed.ts';

/** What a stream tells its engine. */
export interface BotStreamEvents {
  started(stream: BotStream): void;
  error(stream: BotStream, note: Omit<StreamErrorNote, 'streamId' | 'endpointId'>): void;
  stopped(stream: BotStream, reason: StreamStopReason, result: Record<string, unknown> | undefined): void;
}

/** Most bytes of one message from the bot (a few seconds of 24 kHz audio in base64). */
const MAX_BOT_MESSAGE = 1 << 20;
const MAX_RECONNECT_DELAY_MS = 10_000;

/**
 * One media stream: an endpoint's (or a conference's, see StreamTarget) audio to a bot over a
 * WebSocket this worker opens, and the bot's audio back into the call.
 *
 * Caller audio is sent as it is decoded (on packet arrival, one 20 ms chunk per message); a send
 * never waits: when the socket already holds more than `maxBufferedBytes` unsent (a slow or stuck
 * bot), the chunk is dropped and counted. Bot audio goes into a bounded BotAudioQueue that the
 * media clock drains as the endpoint's outbound source. Nothing here blocks the worker: the socket
 * is event driven, connects and reconnects run on timers.
 *
 * Wire: the Twilio Media Streams message set (`connected`, `start`, `media`, `dtmf`, `mark`,
 * `stop`; from the bot `media`, `mark`, `clear`), or binary mode (a JSON `start` message, then
 * raw L16 little-endian frames both ways; JSON control messages as in Twilio mode). Either way
 * the bot may end the stream with `{"event":"result","result":{...}}`.
 */
export class BotStream implements StreamListener {
  readonly id: string;
  readonly params: StreamStartParams;
  readonly #target: StreamTarget;
  /** A bridge stream: the outbound track is the other leg's voice, not what the endpoint is sent. */
  readonly #bridged: boolean;
  readonly #events: BotStreamEvents;
  #state: StreamState = 'connecting';
  #reason: StreamStopReason | undefined;
  #ws: WebSocket | null = null;
  #wasOpen = false;
  #attempts = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #everStarted = false;
  readonly #queue: BotAudioQueue | null;
  readonly #inbound: TrackFeed | null;
  readonly #outbound: TrackFeed | null;
  /** Twilio's counters: one sequence over all messages we send, a chunk count per track. */
  #sequence = 0;
  #chunkIn = 0;
  #chunkOut = 0;
  #startMs = 0;
  readonly #frameBytes: Buffer;
  #fromBot: Resampler | null = null;
  #botPcm = new Int16Array(4096);
  #botPcmRate = new Int16Array(4096);
  readonly #stats: Omit<
    StreamStats,
    | 'playedMs'
    | 'queuedMs'
    | 'queueOverruns'
    | 'overrunSamples'
    | 'clockSkippedSamples'
    | 'marksAcknowledged'
    | 'clears'
  > = {
    framesSent: 0,
    framesDropped: 0,
    framesReceived: 0,
    marksReceived: 0,
    dtmfSent: 0,
    connects: 0,
    connectFailures: 0,
    badMessages: 0,
  };

  constructor(params: StreamStartParams, target: StreamTarget, events: BotStreamEvents) {
    this.id = params.streamId;
    this.params = params;
    this.#target = target;
    this.#bridged = params.peerEndpointId !== undefined;
    this.#events = events;
    const rate = params.sampleRate;
    this.#frameBytes = Buffer.alloc((rate / 50) * (params.encoding === 'pcmu' ? 1 : 2));
    const wantIn = params.tracks !== 'outbound';
    const wantOut = params.tracks !== 'inbound';
    this.#inbound = wantIn ? new TrackFeed(rate, (pcm, now) => this.#sendChunk(pcm, now, 'inbound')) : null;
    this.#outbound = wantOut ? new TrackFeed(rate, (pcm, now) => this.#sendChunk(pcm, now, 'outbound')) : null;
    const queueRate = target.sampleRate;
    this.#queue = params.bidirectional
      ? new BotAudioQueue(queueRate, Math.ceil((queueRate * params.maxQueueMs) / 1000), (name) => this.#sendMark(name))
      : null;
  }

  get state(): StreamState {
    return this.#state;
  }

  get endpointId(): string | undefined {
    return this.params.endpointId;
  }

  get conferenceId(): string | undefined {
    return this.params.conferenceId;
  }

  get peerEndpointId(): string | undefined {
    return this.params.peerEndpointId;
  }

  /** Attaches to the target (taps, the bot's queue as the outbound source), and connects. */
  start(): void {
    this.#startMs = performance.now();
    this.#target.attach(this, this.#queue);
    this.#connect();
  }

  // ---- the socket ---------------------------------------------------------------------------

  #connect(): void {
    this.#retryTimer = null;
    if (this.#state === 'stopped') return;
    this.#wasOpen = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.params.url, {
        headers: this.params.headers,
        handshakeTimeout: this.params.connectTimeoutMs,
        perMessageDeflate: false,
        maxPayload: MAX_BOT_MESSAGE,
        followRedirects: false,
      });
    } catch (err) {
      this.#lost(err instanceof Error ? err.message : String(err));
      return;
    }
    ws.binaryType = 'nodebuffer';
    this.#ws = ws;
    ws.on('open', () => this.#onOpen(ws));
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', () => {
      // 'close' follows with 1006; the reason is reported there.
    });
    ws.on('unexpected-response', (_req, res) => {
      ws.terminate();
      this.#failure = `the bot answered HTTP ${res.statusCode ?? 0} instead of switching protocols`;
    });
    ws.on('close', (code) => this.#onClose(ws, code));
  }

  /** Why the current attempt failed, when known better than "closed" (an HTTP answer). */
  #failure: string | null = null;

  #onOpen(ws: WebSocket): void {
    if (ws !== this.#ws || this.#state === 'stopped') return;
    this.#wasOpen = true;
    this.#attempts = 0;
    this.#stats.connects++;
    this.#state = 'streaming';
    const p = this.params;
    if (p.mode === 'twilio') {
      ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      ws.send(
        JSON.stringify({
          event: 'start',
          sequenceNumber: String(++this.#sequence),
          start: {
            streamSid: this.id,
            accountSid: p.accountSid,
            callSid: p.callSid,
            tracks: p.tracks === 'both' ? ['inbound', 'outbound'] : [p.tracks],
            customParameters: p.customParameters,
            mediaFormat: {
              encoding: p.encoding === 'pcmu' ? 'audio/x-mulaw' : 'audio/x-l16',
              sampleRate: p.sampleRate,
              channels: 1,
            },
          },
          streamSid: this.id,
        }),
      );
    } else {
      ws.send(
        JSON.stringify({
          event: 'start',
          streamSid: this.id,
          callSid: p.callSid,
          accountSid: p.accountSid,
          tracks: p.tracks,
          encoding: 'l16',
          sampleRate: p.sampleRate,
          channels: 1,
          bidirectional: p.bidirectional,
          customParameters: p.customParameters,
        }),
      );
    }
    if (!this.#everStarted) {
      this.#everStarted = true;
      this.#events.started(this);
    }
  }

  #onClose(ws: WebSocket, code: number): void {
    if (ws !== this.#ws) return;
    this.#ws = null;
    if (this.#state === 'stopped') return;
    // A close frame from the bot (1000 normal, 1001 going away, 1005 none given) ends the stream;
    // anything else (1006: refused, timed out, dropped) is a failure for the reconnect policy.
    if (this.#wasOpen && (code === 1000 || code === 1001 || code === 1005)) {
      this.#finish('bot_closed', undefined);
      return;
    }
    this.#lost(
      this.#failure ?? (this.#wasOpen ? `connection lost (code ${code})` : `could not connect (code ${code})`),
    );
  }

  #lost(message: string): void {
    this.#failure = null;
    const wasOpen = this.#wasOpen;
    if (!wasOpen) this.#stats.connectFailures++;
    const policy = this.params.reconnect;
    const willRetry = this.#attempts < policy.maxAttempts;
    this.#events.error(this, { code: wasOpen ? 'CONNECTION_LOST' : 'CONNECT_FAILED', message, willRetry });
    if (!willRetry) {
      this.#finish('error', undefined);
      return;
    }
    this.#attempts++;
    this.#state = 'reconnecting';
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, policy.delayMs * 2 ** (this.#attempts - 1));
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  // ---- to the bot ---------------------------------------------------------------------------

  /** Whether a message may go now: connected and not backed up (else the caller's audio is dropped). */
  #writable(): WebSocket | null {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN || this.#state !== 'streaming') return null;
    return ws;
  }

  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void {
    if (direction === 'in') this.#inbound?.push(pcm, sampleRate, nowMs);
    else if (!this.#bridged) this.#outbound?.push(pcm, sampleRate, nowMs);
  }

  onPeerAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void {
    if (direction === 'in') this.#outbound?.push(pcm, sampleRate, nowMs);
  }

  #sendChunk(pcm: Int16Array, nowMs: number, track: 'inbound' | 'outbound'): void {
    const ws = this.#writable();
    if (ws === null || ws.bufferedAmount > this.params.maxBufferedBytes) {
      this.#stats.framesDropped++;
      return;
    }
    const bytes = this.#frameBytes;
    if (this.params.encoding === 'pcmu') {
      for (let i = 0; i < pcm.length; i++) bytes[i] = linearToUlaw(pcm[i]!);
    } else {
      for (let i = 0; i < pcm.length; i++) bytes.writeInt16LE(pcm[i]!, i * 2);
    }
    if (this.params.mode === 'binary') {
      // ws copies the frame before send() returns (it frames it into a new buffer).
      ws.send(bytes, { binary: true });
    } else {
      const chunk = track === 'inbound' ? ++this.#chunkIn : ++this.#chunkOut;
      ws.send(
        `{"event":"media","sequenceNumber":"${++this.#sequence}","media":{"track":"${track}","chunk":"${chunk}","timestamp":"${Math.round(
          nowMs - this.#startMs,
        )}","payload":"${bytes.toString('base64')}"},"streamSid":"${this.id}"}`,
      );
    }
    this.#stats.framesSent++;
  }

  #sendMark(name: string): void {
    const ws = this.#writable();
    if (ws === null) return;
    ws.send(
      JSON.stringify(
        this.params.mode === 'twilio'
          ? { event: 'mark', sequenceNumber: String(++this.#sequence), streamSid: this.id, mark: { name } }
          : { event: 'mark', streamSid: this.id, mark: { name } },
      ),
    );
  }

  /** A DTMF press on the endpoint, forwarded to the bot. */
  dtmf(digit: string): void {
    const ws = this.#writable();
    if (ws === null) return;
    this.#stats.dtmfSent++;
    ws.send(
      JSON.stringify(
        this.params.mode === 'twilio'
          ? {
              event: 'dtmf',
              streamSid: this.id,
              sequenceNumber: String(++this.#sequence),
              dtmf: { track: 'inbound_track', digit },
            }
          : { event: 'dtmf', streamSid: this.id, dtmf: { digit } },
      ),
    );
  }

  // ---- from the bot -------------------------------------------------------------------------

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state !== 'streaming') return;
    if (isBinary) {
      if (this.params.mode !== 'binary') {
        this.#bad('a binary message in twilio mode');
        return;
      }
      const buf = data as Buffer;
      this.#stats.framesReceived++;
      this.#queueL16(buf);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse((data as Buffer).toString('utf8'));
    } catch {
      this.#bad('not JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      this.#bad('not a JSON object');
      return;
    }
    const m = msg as { event?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown }; result?: unknown };
    switch (m.event) {
      case 'media': {
        const payload = m.media?.payload;
        if (typeof payload !== 'string') {
          this.#bad('media without payload');
          return;
        }
        this.#stats.framesReceived++;
        const raw = Buffer.from(payload, 'base64');
        if (this.params.encoding === 'pcmu') this.#queueUlaw(raw);
        else this.#queueL16(raw);
        return;
      }
      case 'mark': {
        const name = m.mark?.name;
        if (typeof name !== 'string') {
          this.#bad('mark without name');
          return;
        }
        this.#stats.marksReceived++;
        if (this.#queue !== null) this.#queue.mark(name);
        else this.#sendMark(name); // nothing is played: the point is reached at once
        return;
      }
      case 'clear':
        this.#queue?.clear();
        return;
      case 'result': {
        const result = m.result;
        const fields =
          typeof result === 'object' && result !== null && !Array.isArray(result)
            ? (result as Record<string, unknown>)
            : {};
        this.stop('result', fields);
        return;
      }
      default:
        this.#bad(`unknown event ${JSON.stringify(m.event)}`);
    }
  }

  #bad(message: string): void {
    if (this.#stats.badMessages++ === 0) {
      this.#events.error(this, { code: 'BAD_MESSAGE', message, willRetry: false });
    }
  }

  #queueUlaw(raw: Buffer): void {
    const n = raw.length;
    if (this.#botPcm.length < n) this.#botPcm = new Int16Array(n);
    const pcm = this.#botPcm;
    for (let i = 0; i < n; i++) pcm[i] = ulawToLinear(raw[i]!);
    this.#queuePcm(pcm, n);
  }

  #queueL16(raw: Buffer): void {
    const n = raw.length >> 1;
    if (this.#botPcm.length < n) this.#botPcm = new Int16Array(n);
    const pcm = this.#botPcm;
    for (let i = 0; i < n; i++) pcm[i] = raw.readInt16LE(i * 2);
    this.#queuePcm(pcm, n);
  }

  /** Bot audio at the stream's rate → the endpoint's rate → the queue (unidirectional: dropped). */
  #queuePcm(pcm: Int16Array, n: number): void {
    const queue = this.#queue;
    if (queue === null) return;
    const to = queue.sampleRate;
    const from = this.params.sampleRate;
    if (from === to) {
      queue.push(pcm, n);
      return;
    }
    if (this.#fromBot === null) this.#fromBot = new Resampler(from, to);
    const need = Math.ceil((n * to) / from) + 2;
    if (this.#botPcmRate.length < need) this.#botPcmRate = new Int16Array(need);
    const out = this.#fromBot.process(pcm.subarray(0, n), this.#botPcmRate);
    queue.push(this.#botPcmRate, out);
  }

  // ---- stopping -----------------------------------------------------------------------------

  /** Tells the bot `stop` and closes (idempotent); the engine hears `stopped` once. */
  stop(reason: StreamStopReason, result?: Record<string, unknown>): void {
    if (this.#state === 'stopped') return;
    const ws = this.#writable();
    if (ws !== null && reason !== 'result' && reason !== 'bot_closed') {
      ws.send(
        JSON.stringify(
          this.params.mode === 'twilio'
            ? {
                event: 'stop',
                sequenceNumber: String(++this.#sequence),
                stop: { accountSid: this.params.accountSid, callSid: this.params.callSid },
                streamSid: this.id,
              }
            : { event: 'stop', streamSid: this.id },
        ),
      );
    }
    this.#finish(reason, result);
  }

  #finish(reason: StreamStopReason, result: Record<string, unknown> | undefined): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#reason = reason;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#target.detach(this, this.#queue);
    const ws = this.#ws;
    this.#ws = null;
    if (ws !== null) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, reason);
      else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    }
    this.#events.stopped(this, reason, result);
  }

  info(): StreamInfo {
    const q = this.#queue;
    const rate = q?.sampleRate ?? 8000;
    const s = this.#stats;
    const info: StreamInfo = {
      streamId: this.id,
      ...(this.params.endpointId !== undefined ? { endpointId: this.params.endpointId } : {}),
      ...(this.params.conferenceId !== undefined ? { conferenceId: this.params.conferenceId } : {}),
      state: this.#state,
      stats: {
        framesSent: s.framesSent,
        framesDropped: s.framesDropped,
        framesReceived: s.framesReceived,
        playedMs: q === null ? 0 : Math.round((q.stats.playedSamples * 1000) / rate),
        queueOverruns: q?.stats.overruns ?? 0,
        overrunSamples: q?.stats.overrunSamples ?? 0,
        clockSkippedSamples: q?.stats.skippedSamples ?? 0,
        queuedMs: q === null ? 0 : Math.round((q.queued * 1000) / rate),
        marksReceived: s.marksReceived,
        marksAcknowledged: q?.stats.marksAcknowledged ?? 0,
        clears: q?.stats.clears ?? 0,
        dtmfSent: s.dtmfSent,
        connects: s.connects,
        connectFailures: s.connectFailures,
        badMessages: s.badMessages,
      },
    };
    if (this.#reason !== undefined) info.reason = this.#reason;
    return info;
  }
}
