import { once } from 'node:events';
import WebSocket from 'ws';
import type { ServerEvent } from '../../src/control/types.ts';
import { freeTcpPort, startMain, type MainProcess } from './mainProcess.ts';

/** One media server process of a test cluster (the cluster-events tests; see also cluster.ts). */
export interface TestInstance {
  id: string;
  api: string;
  grpcPort: number;
  main: MainProcess;
}

/**
 * Starts one instance per id on `redisUrl`, in parallel, each with its own API, gRPC and RTP ports.
 * Close them with stopInstances (SIGTERM, then SIGKILL after a moment).
 */
export async function startInstances(
  redisUrl: string,
  ids: string[],
  env: Record<string, string> = {},
): Promise<TestInstance[]> {
  const instances: TestInstance[] = [];
  for (const id of ids) {
    const port = await freeTcpPort();
    const grpcPort = await freeTcpPort();
    const main = startMain({
      REDIS_URL: redisUrl,
      INSTANCE_ID: id,
      CLUSTER_NAME: 'events-test',
      API_PORT: String(port),
      GRPC_PORT: String(grpcPort),
      LOG_LEVEL: 'info',
      ...env,
    });
    instances.push({ id, api: `http://127.0.0.1:${port}`, grpcPort, main });
  }
  await Promise.all(instances.map((i) => i.main.ready));
  return instances;
}

export async function stopInstances(instances: TestInstance[]): Promise<void> {
  await Promise.all(
    instances.map(async (i) => {
      if (i.main.child.exitCode !== null || i.main.child.signalCode !== null) return;
      i.main.child.kill('SIGTERM');
      const t = setTimeout(() => i.main.child.kill('SIGKILL'), 5000);
      await i.main.exited;
      clearTimeout(t);
    }),
  );
}

/** A WebSocket /events reader that keeps every event it got. */
export class WsEvents {
  readonly ws: WebSocket;
  readonly events: ServerEvent[] = [];
  readonly #waiters = new Set<() => void>();

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      this.events.push(JSON.parse(String(data)) as ServerEvent);
      for (const w of this.#waiters) w();
    });
  }

  static async open(api: string, query = ''): Promise<WsEvents> {
    const c = new WsEvents(`${api.replace('http', 'ws')}/events${query}`);
    await once(c.ws, 'open');
    return c;
  }

  /** Resolves once `pred` holds over the events received (checked on every event). */
  async until(pred: (events: ServerEvent[]) => boolean, timeoutMs = 10_000, what = 'events'): Promise<void> {
    if (pred(this.events)) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pred(this.events)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => [e.seq, e.type]))}`),
        );
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function api<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}
