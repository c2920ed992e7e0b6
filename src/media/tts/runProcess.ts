import { spawn } from 'node:child_process';
import { UnsupportedError, ValidationError } from '../../common/errors.ts';

export interface RunProcessOptions {
  /** Written to the child's stdin, then stdin is closed. */
  stdin?: string;
  timeoutMs?: number;
  maxBytes?: number;
  signal?: AbortSignal;
}

/**
 * Run a program with an argument array (never a shell: `shell` stays false, so text cannot be
 * interpreted as commands) and collect its stdout, bounded in time and size.
 */
export function runProcess(cmd: string, args: readonly string[], opts: RunProcessOptions = {}): Promise<Uint8Array> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 50 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    opts.signal?.throwIfAborted();
    const child = spawn(cmd, args, { shell: false, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let total = 0;
    let stderr = '';
    let failure: Error | undefined;
    let spawnFailed = false;
    // After a failed spawn (ENOENT, EACCES) Node 20 leaves `pid` undefined but a handle whose
    // kill() signals pid 0, i.e. our own process group: only ever kill a child that started.
    const killChild = (): void => {
      if (spawnFailed || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
    };
    // Our own timer, not spawn's `timeout`: that one is never cleared when the spawn itself fails
    // (ENOENT emits no 'exit') and would hold the event loop open for the full timeout.
    const timer = setTimeout(() => {
      failure ??= new ValidationError('TTS_FAILED', `${cmd}: no result within ${timeoutMs} ms`);
      killChild();
    }, timeoutMs);
    const onAbort = (): void => {
      failure ??= opts.signal?.reason as Error;
      killChild();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => {
      total += c.length;
      if (total > maxBytes) {
        failure ??= new ValidationError('TTS_FAILED', `${cmd}: output exceeds ${maxBytes} bytes`);
        killChild();
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 2000) stderr += c.toString('utf8');
    });
    // EPIPE when the child exits without reading all input; the exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnFailed = true;
      failure ??=
        err.code === 'ENOENT'
          ? new UnsupportedError('TTS_ENGINE_UNAVAILABLE', `${cmd} is not installed`)
          : new ValidationError('TTS_FAILED', `${cmd}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure !== undefined) return reject(failure);
      if (signal !== null) return reject(new ValidationError('TTS_FAILED', `${cmd}: killed by ${signal}`));
      if (code !== 0)
        return reject(new ValidationError('TTS_FAILED', `${cmd} exited with ${code}: ${stderr.trim().slice(0, 300)}`));
      resolve(Buffer.concat(chunks, total));
    });
    child.stdin.end(opts.stdin ?? '');
  });
}
