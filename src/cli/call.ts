/**
 * `media-server call FLOW [--digits 12#] [--out heard.wav] [--var k=v]... [--url URL] [--token T]`:
 * calls a flow from a local RTP test phone. It creates an endpoint with the phone's offer, hands
 * it to FLOW, plays back nothing but writes what it hears to a WAV file, sends the digits given
 * with --digits (after --wait ms, one every --gap ms) and any key typed on the keyboard (0-9 * # A-D;
 * q or Ctrl-C hangs up), and ends with the flow's outcome.
 */
import readline from 'node:readline';
import WebSocket from 'ws';
import { ApiClient } from './ApiClient.ts';
import { TestPhone } from './TestPhone.ts';

export interface CallOptions {
  flow: string;
  digits: string;
  waitMs: number;
  gapMs: number;
  out: string;
  variables: Record<string, string>;
  /** Hang up after this long whatever the flow does. */
  maxMs: number;
  /** Read keys from this terminal (process.stdin when it is a TTY). */
  keys: NodeJS.ReadStream | null;
  signal: AbortSignal;
  log: (line: string) => void;
}

interface Created {
  id: string;
  ip: string;
  rtp_port: number;
}
interface FlowEvent {
  type: string;
  session_id?: string;
  step?: string;
  outcome?: unknown;
  error?: unknown;
  digit?: string;
  endpoint_id?: string;
}

export async function callFlow(client: ApiClient, o: CallOptions): Promise<number> {
  const phone = await TestPhone.open();
  let endpoint: Created | null = null;
  let ws: WebSocket | null = null;
  const timers: NodeJS.Timeout[] = [];
  try {
    endpoint = await client.request<Created>('POST', '/endpoints', { remote_sdp: phone.offer() });
    const ep = endpoint;
    phone.start(ep.ip === '0.0.0.0' ? '127.0.0.1' : ep.ip, ep.rtp_port);

    // Follow the call's events from before the flow starts, so the end is never missed.
    const ended = new Promise<FlowEvent | 'aborted' | 'timeout' | 'hangup'>((resolve) => {
      ws = new WebSocket(client.eventsUrl(null));
      let sessionId: string | null = null;
      ws.on('message', (data) => {
        const e = JSON.parse(data.toString()) as FlowEvent;
        if (e.endpoint_id !== ep.id && e.session_id !== sessionId) return;
        if (e.type === 'flow.started') sessionId = e.session_id ?? null;
        else if (e.type === 'flow.step') o.log(`  step ${e.step ?? ''}`);
        else if (e.type === 'playback.started') o.log('  ♪ playing');
        else if (e.type === 'endpoint.deleted') resolve('hangup');
        else if (e.type === 'flow.completed' || e.type === 'flow.failed') resolve(e);
      });
      ws.on('error', () => {});
      o.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      timers.push(setTimeout(() => resolve('timeout'), o.maxMs));
      if (o.keys) {
        readline.emitKeypressEvents(o.keys);
        o.keys.setRawMode?.(true);
        o.keys.on('keypress', (str: string | undefined, key: { ctrl?: boolean; name?: string }) => {
          if ((key.ctrl && key.name === 'c') || str === 'q') return resolve('aborted');
          if (str && /^[0-9*#A-Da-d]$/.test(str)) {
            phone.press(str.toUpperCase());
            o.log(`  key ${str.toUpperCase()}`);
          }
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve());
      ws!.once('unexpected-response', (_q, res) => reject(new Error(`events: ${res.statusCode}`)));
    });

    o.log(
      `calling flow '${o.flow}' from 127.0.0.1:${phone.port} (endpoint ${ep.id})${o.keys ? ': type digits, q hangs up' : ''}`,
    );
    await client.request<{ session_id: string }>('POST', `/endpoints/${ep.id}/flow`, {
      flow: o.flow,
      variables: o.variables,
    });
    [...o.digits].forEach((d, i) => {
      timers.push(
        setTimeout(
          () => {
            phone.press(d);
            o.log(`  key ${d}`);
          },
          o.waitMs + i * o.gapMs,
        ),
      );
    });

    const end = await ended;
    phone.writeWav(o.out);
    o.log(`heard ${phone.heardSeconds.toFixed(1)} s → ${o.out}`);
    if (typeof end === 'string') {
      o.log(
        end === 'timeout'
          ? `no outcome after ${o.maxMs} ms: hanging up`
          : end === 'hangup'
            ? 'the server hung up'
            : 'hanging up',
      );
      return end === 'timeout' ? 1 : 0;
    }
    o.log(
      end.type === 'flow.completed'
        ? `flow completed: ${JSON.stringify(end.outcome)}`
        : `flow failed: ${JSON.stringify(end.error)}`,
    );
    return end.type === 'flow.completed' ? 0 : 1;
  } finally {
    for (const t of timers) clearTimeout(t);
    o.keys?.setRawMode?.(false);
    o.keys?.pause();
    (ws as WebSocket | null)?.close();
    phone.close();
    if (endpoint) await client.request('DELETE', `/endpoints/${endpoint.id}`).catch(() => {});
  }
}
