import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (argument array, no shell) and resolves when it exits or is killed on timeout. */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

/** A free UDP port pair (even RTP port, RTCP next) on 127.0.0.1, found by binding and releasing. */
export async function freeUdpPortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 40000 + 2 * Math.floor(Math.random() * 10000);
    if ((await udpPortFree(port)) && (await udpPortFree(port + 1))) return port;
  }
  throw new Error('no free UDP port pair');
}

export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ port, address: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Resolves once some process has bound `port` (polling, bounded). */
export async function waitUntilBound(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!(await udpPortFree(port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing bound UDP port ${port} within ${timeoutMs} ms`);
}
