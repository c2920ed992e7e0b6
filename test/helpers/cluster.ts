import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeTcpPort, startMain, type MainProcess } from './mainProcess.ts';
import { TestRedis } from './redis.ts';

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One real instance (src/main.ts in its own process) of a test cluster. */
export interface ClusterInstance {
  readonly id: string;
  readonly apiPort: number;
  readonly grpcPort: number;
  /** http://127.0.0.1:<apiPort> */
  readonly url: string;
  readonly proc: MainProcess;
  /** A REST call with the cluster's token; the body parsed as JSON when it is JSON. */
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>>;
  /** kill -9: no drain, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM (drain, then stop) and wait for the exit. */
  stop(): Promise<number | null>;
  readonly exited: boolean;
}

export interface TestClusterOptions {
  /** Instances to start (default 3). */
  instances?: number;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
  /** Bearer token every instance requires (default one is set: forwarding must pass it on). */
  token?: string;
}

let clusters = 0;

/**
 * A real Redis (TestRedis) and N real instances of the server as `npm start` runs them, each
 * with its own API and gRPC ports and RTP port range, MEDIA_WORKERS=1, one cluster name of
 * their own, a short heartbeat, and one shared recordings directory (the shared storage of a
 * cluster).
 */
export class TestCluster {
  readonly redis: TestRedis;
  readonly instances: ClusterInstance[];
  readonly name: string;
  readonly token: string;
  readonly recordingsDir: string;

  private constructor(redis: TestRedis, instances: ClusterInstance[], name: string, token: string, dir: string) {
    this.redis = redis;
    this.instances = instances;
    this.name = name;
    this.token = token;
    this.recordingsDir = dir;
  }

  static async start(options: TestClusterOptions = {}): Promise<TestCluster> {
    const n = options.instances ?? 3;
    const token = options.token ?? 'cluster-test-token';
    const name = `t${process.pid}-${++clusters}`;
    const redis = await TestRedis.start();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msc-cluster-rec-'));
    const instances: ClusterInstance[] = [];
    try {
      for (let i = 0; i < n; i++)
        instances.push(await startInstance(`i${i + 1}`, redis, name, token, dir, options.env));
      await Promise.all(instances.map((x) => x.proc.ready));
    } catch (err) {
      for (const x of instances) await x.kill();
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const cluster = new TestCluster(redis, instances, name, token, dir);
    await cluster.waitFor(async () => (await cluster.members(instances[0]!)).length === n, 'every member registered');
    return cluster;
  }

  /** Instance i (0-based). */
  at(i: number): ClusterInstance {
    return this.instances[i]!;
  }

  /** The member ids that GET /cluster on `via` lists. */
  async members(via: ClusterInstance): Promise<string[]> {
    const r = await via.request('GET', '/cluster');
    if (r.status !== 200) return [];
    return (r.body.members as Array<{ id: string }>).map((m) => m.id);
  }

  /** The instance whose id is `id`. */
  byId(id: string): ClusterInstance {
    const x = this.instances.find((i) => i.id === id);
    if (!x) throw new Error(`no instance ${id}`);
    return x;
  }

  /** Which instance owns a resource, as its owner record in Redis says (via a raw Redis GET). */
  async ownerOf(resourceId: string): Promise<string | null> {
    return this.redisCommand(['HGET', `msc:${this.name}:owner:${resourceId}`, 'instance']) as Promise<string | null>;
  }

  /** One raw Redis command over a short-lived connection (what the test checks, not what an instance says). */
  async redisCommand(args: string[]): Promise<unknown> {
    const { Redis } = await import('ioredis');
    const r = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      await r.connect();
      return await r.call(args[0]!, ...args.slice(1));
    } finally {
      r.disconnect();
    }
  }

  /** Polls `check` every 50 ms until it holds, or fails after `timeoutMs`. */
  async waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        // not yet
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Stops every instance and Redis, removes the shared directory. Twice SIGTERM: the second skips
   * the drain (calls a test left open are closed, recordings finalised); kill -9 after 8 s.
   */
  async close(): Promise<void> {
    await Promise.all(
      this.instances.map(async (x) => {
        if (x.exited) return;
        x.proc.child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 300));
        if (!x.exited) x.proc.child.kill('SIGTERM');
        await Promise.race([x.proc.exited, new Promise((r) => setTimeout(r, 8000))]);
        if (!x.exited) await x.kill();
      }),
    );
    await this.redis.close();
    rmSync(this.recordingsDir, { recursive: true, force: true });
  }
}

async function startInstance(
  id: string,
  redis: TestRedis,
  name: string,
  token: string,
  recordingsDir: string,
  env: Record<string, string> = {},
): Promise<ClusterInstance> {
  const apiPort = await freeTcpPort();
  const grpcPort = await freeTcpPort();
  const proc = startMain({
    REDIS_URL: redis.url,
    CLUSTER_NAME: name,
    INSTANCE_ID: id,
    API_PORT: String(apiPort),
    GRPC_PORT: String(grpcPort),
    API_TOKEN: token,
    CLUSTER_HEARTBEAT_MS: '200',
    CLUSTER_MEMBER_TTL_MS: '1000',
    RECORDINGS_DIR: recordingsDir,
    TTS_THREADS: '1',
    SILENCE_FILL: 'off',
    DRAIN_TIMEOUT_MS: '20000',
    ...env,
  });
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const url = `http://127.0.0.1:${apiPort}`;
  return {
    id,
    apiPort,
    grpcPort,
    url,
    proc,
    get exited() {
      return exited;
    },
    async request(method, p, body, headers = {}) {
      const res = await fetch(url + p, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const type = res.headers.get('content-type') ?? '';
      const parsed = type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
    async kill() {
      if (exited) return;
      proc.child.kill('SIGKILL');
      await proc.exited;
    },
    async stop() {
      if (!exited) proc.child.kill('SIGTERM');
      return proc.exited;
    },
  };
}
