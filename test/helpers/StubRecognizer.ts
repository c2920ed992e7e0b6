import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** One recognition as the stub saw it. */
export interface StubSession {
  start: Record<string, unknown> | null;
  /** Bytes of audio received (16-bit PCM). */
  audioBytes: number;
  stopped: boolean;
  closed: boolean;
}

/**
 * A stand-in for an external speech recogniser speaking the documented protocol (README,
 * "Speech recognisers"): it reads the JSON `start`, counts the binary audio, and on `stop`
 * answers one `final` with `transcript` when it received audio (a `partial` first), or an empty
 * transcript in 'empty' mode. It recognises nothing: what is tested is what the server sends it
 * and what it does with the answer.
 */
export class StubRecognizer {
  readonly sessions: StubSession[] = [];
  transcript = 'billing please';
  confidence = 0.87;
  mode: 'answer' | 'empty' = 'answer';
  readonly #wss: WebSocketServer;

  private constructor(wss: WebSocketServer) {
    this.#wss = wss;
    wss.on('connection', (ws) => this.#serve(ws));
  }

  static async open(): Promise<StubRecognizer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    return new StubRecognizer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as AddressInfo).port}/asr`;
  }

  #serve(ws: WebSocket): void {
    const s: StubSession = { start: null, audioBytes: 0, stopped: false, closed: false };
    this.sessions.push(s);
    ws.on('close', () => {
      s.closed = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        s.audioBytes += (data as Buffer).length;
        return;
      }
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      if (m.type === 'start') s.start = m;
      else if (m.type === 'stop') {
        s.stopped = true;
        if (this.mode === 'empty' || s.audioBytes === 0) {
          ws.send(JSON.stringify({ type: 'final', transcript: '', confidence: 0 }));
          return;
        }
        ws.send(JSON.stringify({ type: 'partial', transcript: this.transcript.split(' ')[0] }));
        ws.send(JSON.stringify({ type: 'final', transcript: this.transcript, confidence: this.confidence }));
      }
    });
  }

  async close(): Promise<void> {
    for (const c of this.#wss.clients) c.terminate();
    await new Promise<void>((r) => this.#wss.close(() => r()));
  }
}
