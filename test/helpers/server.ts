import { loadConfig, type Config } from '../../src/config/config.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaServer } from '../../src/control/MediaServer.ts';
import type { ServerEvent } from '../../src/control/types.ts';

let nextRange = 0;

/** A port range of its own per server, so test files running in parallel never collide. */
export function testPortRange(size = 200): { RTP_PORT_START: string; RTP_PORT_END: string } {
  const base = 20000 + ((process.pid * 7 + nextRange++ * size) % 30000);
  const start = base - (base % 2);
  return { RTP_PORT_START: String(start), RTP_PORT_END: String(start + size - 1) };
}

/**
 * SILENCE_FILL is off unless a test asks for it: most tests count exactly the packets a prompt or
 * a relay sends, and an idle endpoint's comfort noise/silence before a bridge or a prompt would
 * race with them. Tests of real calls (flows, silence, DTMF, the beep) turn it on (the product
 * default, `cn`).
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ MEDIA_WORKERS: '1', LOG_LEVEL: 'silent', SILENCE_FILL: 'off', ...testPortRange(), ...env });
}

export async function startServer(env: Record<string, string> = {}): Promise<MediaServer> {
  const server = new MediaServer(testConfig(env), silentLogger);
  await server.start();
  return server;
}

/** Resolves with the first event of `type` matching `pred`, emitted from now on. */
export function nextEvent(server: { events: { subscribe(l: (e: ServerEvent) => void): () => void } }, type: string, pred: (e: ServerEvent) => boolean = () => true, timeoutMs = 5000): Promise<ServerEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`no ${type} event within ${timeoutMs} ms`)); }, timeoutMs);
    const unsubscribe = server.events.subscribe((e) => {
      if (e.type === type && pred(e)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(e);
      }
    });
  });
}
