/**
 * A small voice bot for media-server-core's media streams, speaking the Twilio Media Streams
 * message set with nothing but the `ws` package (no code of the server): run it, then hand a call
 * to it with `POST /streams` or the `stream` flow step (flows/voice-bot.yaml).
 *
 *   node --import tsx examples/echo-bot.ts            # ws://127.0.0.1:8765/bot
 *   PORT=9000 PROMPTS=./prompts node --import tsx examples/echo-bot.ts
 *
 * The dialogue:
 * - on `start` it greets the caller with a pre-recorded prompt (prompts/welcome.wav) followed by a
 *   `mark`; while the greeting plays, the caller talking over it (energy above a threshold) makes
 *   it send `clear` (barge-in);
 * - once the greeting's mark comes back (it has been played), it echoes what the caller says;
 * - keys: 1 → `{"event":"result","result":{"action":"transfer","target":"sip:sales@example.com"}}`,
 *   2 → plays prompts/goodbye.wav, waits for its mark, then `{"action":"hangup"}`,
 *   0 → `clear` (silence whatever is playing), # → closes the socket (the flow goes on without a
 *   result).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

const PORT = Number(process.env.PORT ?? 8765);
const HOST = process.env.HOST ?? '127.0.0.1';
const PROMPTS = process.env.PROMPTS ?? path.join(import.meta.dirname, '..', 'prompts');
/** Mean absolute amplitude of a 20 ms frame above which the caller is taken to be talking. */
const TALK_LEVEL = Number(process.env.TALK_LEVEL ?? 1500);

// ---- G.711 µ-law (ITU-T G.711) ----------------------------------------------------------------
function ulawEncode(sample: number): number {
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += 0x84;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  return ~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0f)) & 0xff;
}

function ulawDecode(code: number): number {
  const u = ~code & 0xff;
  const mag = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
  return u & 0x80 ? -mag : mag;
}

/** A prompt as 8 kHz µ-law: a 16-bit mono WAV of 8 kHz (the server's prompts are). */
function loadPrompt(name: string): Buffer {
  const wav = readFileSync(path.join(PROMPTS, name));
  let off = 12;
  while (off + 8 <= wav.length) {
    const id = wav.toString('ascii', off, off + 4);
    const size = wav.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = Math.floor(size / 2);
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = ulawEncode(wav.readInt16LE(off + 8 + i * 2));
      return out;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${name}: no data chunk`);
}

const greeting = loadPrompt('welcome.wav');
const goodbye = loadPrompt('goodbye.wav');

interface Call {
  ws: WebSocket;
  streamSid: string;
  /** Marks sent and not acknowledged yet. */
  pending: Set<string>;
  echo: boolean;
  after: Map<string, () => void>;
}

function send(call: Call, msg: Record<string, unknown>): void {
  call.ws.send(JSON.stringify({ ...msg, streamSid: call.streamSid }));
}

/** Sends audio as 20 ms media messages at once (the server paces it), then a mark. */
function play(call: Call, ulaw: Buffer, mark: string, then?: () => void): void {
  for (let i = 0; i < ulaw.length; i += 160)
    send(call, { event: 'media', media: { payload: ulaw.subarray(i, i + 160).toString('base64') } });
  call.pending.add(mark);
  if (then) call.after.set(mark, then);
  send(call, { event: 'mark', mark: { name: mark } });
}

function result(call: Call, fields: Record<string, unknown>): void {
  send(call, { event: 'result', result: fields });
}

const wss = new WebSocketServer({ host: HOST, port: PORT, path: '/bot' });
wss.on('connection', (ws) => {
  const call: Call = { ws, streamSid: '', pending: new Set(), echo: false, after: new Map() };
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(String(data)) as {
      event: string;
      start?: { streamSid: string; callSid: string; customParameters: Record<string, string> };
      media?: { track: string; payload: string };
      dtmf?: { digit: string };
      mark?: { name: string };
    };
    switch (msg.event) {
      case 'connected':
        break;
      case 'start':
        call.streamSid = msg.start?.streamSid ?? '';
        console.log(`call ${msg.start?.callSid}: start`, msg.start?.customParameters);
        play(call, greeting, 'greeting', () => {
          call.echo = true;
        });
        break;
      case 'media': {
        const payload = Buffer.from(msg.media?.payload ?? '', 'base64');
        if (call.pending.has('greeting')) {
          let sum = 0;
          for (const b of payload) sum += Math.abs(ulawDecode(b));
          if (payload.length > 0 && sum / payload.length > TALK_LEVEL) {
            console.log('caller talks over the greeting: clear');
            send(call, { event: 'clear' });
          }
        } else if (call.echo) {
          send(call, { event: 'media', media: { payload: msg.media?.payload } });
        }
        break;
      }
      case 'mark': {
        const name = msg.mark?.name ?? '';
        call.pending.delete(name);
        const then = call.after.get(name);
        call.after.delete(name);
        then?.();
        break;
      }
      case 'dtmf':
        console.log(`key ${msg.dtmf?.digit}`);
        if (msg.dtmf?.digit === '1') result(call, { action: 'transfer', target: 'sip:sales@example.com' });
        else if (msg.dtmf?.digit === '2') {
          call.echo = false;
          send(call, { event: 'clear' });
          play(call, goodbye, 'goodbye', () => result(call, { action: 'hangup' }));
        } else if (msg.dtmf?.digit === '0') send(call, { event: 'clear' });
        else if (msg.dtmf?.digit === '#') ws.close(1000, 'bye');
        break;
      case 'stop':
        console.log('stop');
        break;
    }
  });
});
wss.on('listening', () => {
  const a = wss.address();
  console.log(`echo bot on ws://${HOST}:${typeof a === 'string' || a === null ? PORT : a.port}/bot`);
});
