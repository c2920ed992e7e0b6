/**
 * The C load generator (bench/relay/loadgen.c) behind the interface of bench:relay's worker-thread
 * generators: built on demand with the system C compiler, run as N child processes (one thread
 * each), driven by line-based JSON over their stdin/stdout with the commands generator.ts takes.
 * In C because at 200 calls the JavaScript generator (20,000 packets/s out and in on one thread)
 * was what p50/p99 measured, for every relay alike.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pattern } from './pattern.ts';

/** What the C generator needs: the binary and the audio file it loops. */
export interface CLoadgen {
  bin: string;
  audio: string;
}

/**
 * Builds loadgen.c with `cc` (CC in the environment) into a temporary directory, removed at
 * exit, and writes the payload pattern next to it; an error string when there is no compiler or
 * the build fails (the bench then falls back to the JavaScript generator).
 */
export function buildCLoadgen(payload: string): CLoadgen | { error: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msc-loadgen-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'loadgen');
  const src = new URL('./loadgen.c', import.meta.url).pathname;
  const cc = spawnSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Wextra', '-o', bin, src], { encoding: 'utf8' });
  if (cc.error) return { error: `no C compiler (${cc.error.message})` };
  if (cc.status !== 0) return { error: `cc failed: ${cc.stderr.trim().split('\n')[0] ?? cc.status}` };
  const audio = path.join(dir, 'audio.ulaw');
  writeFileSync(audio, pattern(payload));
  return { bin, audio };
}

class LoadgenChild {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #waiters: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  readonly exited: Promise<unknown>;
  constructor(lg: CLoadgen) {
    this.child = spawn(lg.bin, [lg.audio], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((r) =>
      this.child.once('exit', (code, signal) => {
        // A generator that dies mid-step fails the step instead of hanging the bench.
        for (const w of this.#waiters.splice(0)) w.reject(new Error(`loadgen exited (${signal ?? code})`));
        r(code);
      }),
    );
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const w = this.#waiters.shift();
      if (w) w.resolve(l);
      else this.#lines.push(l);
    });
  }
  async call(msg: object): Promise<any> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error('loadgen exited');
    this.child.stdin!.write(`${JSON.stringify(msg)}\n`);
    const l = this.#lines.shift();
    return JSON.parse(
      l !== undefined ? l : await new Promise<string>((resolve, reject) => this.#waiters.push({ resolve, reject })),
    );
  }
}

/** The same interface as the worker-thread Generators of bench/relay.ts. */
export class CGenerators {
  readonly procs: LoadgenChild[] = [];
  constructor(n: number, lg: CLoadgen) {
    for (let i = 0; i < n; i++) this.procs.push(new LoadgenChild(lg));
  }
  all(msg: object): Promise<any[]> {
    return Promise.all(this.procs.map((p) => p.call(msg)));
  }
  async setLegs(legs: Array<[number, number]>): Promise<void> {
    const parts: Array<Array<[number, number]>> = this.procs.map(() => []);
    legs.forEach((l, i) => parts[i % this.procs.length]!.push(l));
    await Promise.all(this.procs.map((p, i) => p.call({ cmd: 'legs', legs: parts[i] })));
  }
  async close(): Promise<void> {
    for (const p of this.procs) p.child.stdin!.end(`${JSON.stringify({ cmd: 'close' })}\n`);
    await Promise.all(this.procs.map((p) => p.exited));
  }
}
