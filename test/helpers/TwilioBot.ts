import type { IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * A voice-bot server for tests, written from Twilio's published Media Streams message format
 * (https://www.twilio.com/docs/voice/media-streams/websocket-messages), not from src/: it
 * imports nothing of ours and has its own G.711 µ-law (ITU-T G.711 / the classic Sun code).
 *
 * Messages Twilio sends: `connected {event, protocol, version}`, `start {event, sequenceNumber,
 * start: {streamSid, accountSid, callSid, tracks, customParameters, mediaFormat: {encoding,
 * sampleRate, channels}}, streamSid}`, `media {event, sequenceNumber, media: {track, chunk,
 * timestamp, payload}, streamSid}`, `dtmf {event, streamSid, sequenceNumber, dtmf: {track,
 * digit}}`, `mark {event, sequenceNumber, streamSid, mark: {name}}`, `stop {event, sequenceNumber,
 * stop: {accountSid, callSid}, streamSid}`. A bot sends `media {event, streamSid, media:
 * {payload}}`, `mark {event, streamSid, mark: {name}}`, `clear {event, streamSid}`.
 */
export interface TwilioMessage {
  event: string;
  sequenceNumber?: string;
  streamSid?: string;
  protocol?: string;
  version?: string;
  start?: {
    streamSid: string;
    accountSid: string;
    callSid: string;
    tracks: string[];
    customParameters: Record<string, string>;
    mediaFormat: { encoding: string; sampleRate: number; channels: number };
  };
  media?: { track: string; chunk: string; timestamp: string; payload: string };
  dtmf?: { track: string; digit: string };
  mark?: { name: string };
  stop?: { accountSid: string; callSid: string };
  [k: string]: unknown;
}

/** One received message with its arrival time (performance.now()). */
export interface Received {
  at: number;
  msg: TwilioMessage | null;
  binary: Buffer | null;
}

// ---- G.711 µ-law, from the standard's segment encoding ----------------------------------------
const BIAS = 0x84;
const CLIP = 32635;

export function muLawEncode(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function muLawDecode(code: number): number {
  const u = ~code & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
  return sign !== 0 ? -magnitude : magnitude;
}

/** One connection from the media server. */
export class BotCall {
  readonly ws: WebSocket;
  readonly request: IncomingMessage;
  readonly received: Received[] = [];
  #waiters: Array<{ pred: (r: Received) => boolean; resolve: (r: Received) => void }> = [];
  closed = false;
  closeCode = 0;

  constructor(ws: WebSocket, request: IncomingMessage) {
    this.ws = ws;
    this.request = request;
    ws.on('message', (data, isBinary) => {
      const r: Received = {
        at: performance.now(),
        msg: isBinary ? null : (JSON.parse(String(data)) as TwilioMessage),
        binary: isBinary ? (data as Buffer) : null,
      };
      this.received.push(r);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(r)) return true;
        w.resolve(r);
        return false;
      });
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
    });
  }

  get streamSid(): string {
    return this.messages('start')[0]?.streamSid ?? '';
  }

  messages(event: string): TwilioMessage[] {
    return this.received.filter((r) => r.msg?.event === event).map((r) => r.msg as TwilioMessage);
  }

  /** Resolves with the first message (already received or to come) that matches. */
  waitFor(pred: (r: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const have = this.received.find(pred);
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bot: no such message in time')), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  waitEvent(event: string, timeoutMs = 5000, pred: (m: TwilioMessage) => boolean = () => true): Promise<Received> {
    return this.waitFor((r) => r.msg?.event === event && pred(r.msg), timeoutMs);
  }

  /** The inbound track's audio heard so far (µ-law decoded), in chunk order. */
  heard(track = 'inbound'): Int16Array {
    const media = this.messages('media').filter((m) => m.media?.track === track);
    const bytes = Buffer.concat(media.map((m) => Buffer.from(m.media?.payload ?? '', 'base64')));
    const out = new Int16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = muLawDecode(bytes[i]!);
    return out;
  }

  /** The raw µ-law bytes of a track, in order. */
  heardBytes(track = 'inbound'): Buffer {
    const media = this.messages('media').filter((m) => m.media?.track === track);
    return Buffer.concat(media.map((m) => Buffer.from(m.media?.payload ?? '', 'base64')));
  }

  /** Speaks 8 kHz PCM: µ-law encoded, in `chunkMs` messages, all sent at once (faster than real time). */
  speak(pcm: Int16Array, chunkMs = 20): Buffer {
    const bytes = Buffer.alloc(pcm.length);
    for (let i = 0; i < pcm.length; i++) bytes[i] = muLawEncode(pcm[i]!);
    const step = chunkMs * 8;
    for (let i = 0; i < bytes.length; i += step) {
      this.send({
        event: 'media',
        streamSid: this.streamSid,
        media: { payload: bytes.subarray(i, i + step).toString('base64') },
      });
    }
    return bytes;
  }

  mark(name: string): void {
    this.send({ event: 'mark', streamSid: this.streamSid, mark: { name } });
  }

  clear(): void {
    this.send({ event: 'clear', streamSid: this.streamSid });
  }

  send(msg: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(msg));
  }
}

/** A WebSocket server on 127.0.0.1 taking media streams; `calls` in order of connection. */
export class TwilioBotServer {
  readonly wss: WebSocketServer;
  readonly calls: BotCall[] = [];
  #waiters: Array<(c: BotCall) => void> = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (ws, req) => {
      const call = new BotCall(ws, req);
      this.calls.push(call);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w(call);
    });
  }

  /** `verify` refuses a handshake (401) when it returns false. */
  static async open(opts: { verify?: (req: IncomingMessage) => boolean } = {}): Promise<TwilioBotServer> {
    const verify = opts.verify;
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      ...(verify !== undefined
        ? {
            verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number) => void) =>
              cb(verify(info.req), 401),
          }
        : {}),
    });
    await once(wss, 'listening');
    return new TwilioBotServer(wss);
  }

  get url(): string {
    const a = this.wss.address();
    return `ws://127.0.0.1:${typeof a === 'string' || a === null ? 0 : a.port}/bot`;
  }

  /** The next connection (or the n-th, counting from 0, when it came already). */
  nextCall(index = this.calls.length, timeoutMs = 5000): Promise<BotCall> {
    const have = this.calls[index];
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bot: no connection in time')), timeoutMs);
      const check = (): void => {
        const c = this.calls[index];
        if (c !== undefined) {
          clearTimeout(timer);
          resolve(c);
        } else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

export { WebSocket };
