import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeTcpPort } from './mainProcess.ts';

/**
 * A real redis-server on a free loopback port, no persistence, for cluster tests. `stop()` and
 * `start()` again on the same port simulate an outage; `close()` ends it for good.
 */
export class TestRedis {
  readonly port: number;
  readonly #dir: string;
  #child: ChildProcess | null = null;

  private constructor(port: number) {
    this.port = port;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'msc-redis-'));
  }

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freeTcpPort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  }

  /** Stops the server (SIGKILL: an outage, not a clean shutdown). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
