import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import { testPortRange } from './server.ts';

/** A free TCP port on 127.0.0.1, found by listening and closing. */
export async function freeTcpPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface MainProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves once the server logged that it is ready; rejects if it exits first. */
  ready: Promise<void>;
  exited: Promise<number | null>;
  output: () => string;
}

/** The server as `npm start` runs it (src/main.ts through tsx), one worker, its own port range. */
export function startMain(env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, LOG_LEVEL: 'info', MEDIA_WORKERS: '1', ...testPortRange(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => (output.includes('media-server-core ready') ? resolve() : undefined);
    child.stdout.on('data', check);
    exited.then((code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  ready.catch(() => {}); // a test that expects the process to fail does not await readiness
  return { child, ready, exited, output: () => output };
}
