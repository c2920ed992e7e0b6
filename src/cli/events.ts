/**
 * `media-server events [--since SEQ] [--types a,b] [--url URL] [--token T]`: tails the event stream
 * as JSON lines. A dropped connection is resumed from the last seq seen, so nothing is missed
 * while the server keeps it in its replay buffer.
 */
import WebSocket from 'ws';
import { ApiClient } from './ApiClient.ts';

export interface TailOptions {
  since: number | null;
  /** Event types to print (prefixes with a trailing `.*`, e.g. `flow.*`); empty prints all. */
  types: string[];
  /** Stop after this many printed events (tests, scripts); null runs until aborted. */
  limit: number | null;
  signal: AbortSignal;
  out: (line: string) => void;
  err: (line: string) => void;
}

export function typeFilter(types: readonly string[]): (type: string) => boolean {
  if (types.length === 0) return () => true;
  return (type) => types.some((t) => (t.endsWith('.*') ? type.startsWith(t.slice(0, -1)) : type === t));
}

/** Resolves 0 when aborted or the limit is reached, 1 when the server refuses us. */
export async function tailEvents(client: ApiClient, options: TailOptions): Promise<number> {
  const wanted = typeFilter(options.types);
  let since = options.since;
  let printed = 0;
  let retryMs = 250;
  while (!options.signal.aborted) {
    const result = await new Promise<'closed' | 'done' | 'refused'>((resolve) => {
      const ws = new WebSocket(client.eventsUrl(since));
      let done = false;
      const stop = () => {
        done = true;
        ws.close(1000);
        resolve('done');
      };
      options.signal.addEventListener('abort', stop, { once: true });
      ws.on('open', () => {
        retryMs = 250;
      });
      ws.on('unexpected-response', (_req, res) => {
        options.err(
          `events: the server answered ${res.statusCode}${res.statusCode === 401 ? ' (set API_TOKEN or --token)' : ''}`,
        );
        options.signal.removeEventListener('abort', stop);
        resolve('refused');
      });
      ws.on('message', (data) => {
        if (done) return; // frames already received after the limit or Ctrl-C
        const text = data.toString();
        const e = JSON.parse(text) as { seq?: number; type?: string };
        if (typeof e.seq === 'number') since = e.seq;
        if (typeof e.type === 'string' && !wanted(e.type)) return;
        options.out(text);
        if (options.limit !== null && ++printed >= options.limit) stop();
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        options.signal.removeEventListener('abort', stop);
        resolve('closed');
      });
    });
    if (result === 'refused') return 1;
    if (result === 'done') return 0;
    if (options.signal.aborted) return 0;
    options.err(`events: connection lost, resuming after seq ${since ?? 'start'} in ${retryMs} ms`);
    await new Promise((r) => setTimeout(r, retryMs));
    retryMs = Math.min(5000, retryMs * 2);
  }
  return 0;
}
