import { loadConfig, type Config } from '../../src/config/config.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaServer } from '../../src/control/MediaServer.ts';
import { AudioPrepPool } from '../../src/media/prep/AudioPrepPool.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { eventProblem } from './eventSchemas.ts';

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

export interface StartServerOptions {
  /** Type prefixes of events the test injects itself (bus.emit): not checked against the schemas. */
  ownEvents?: readonly string[];
}

/**
 * A started MediaServer whose every event is checked against the published schemas
 * (schemas/events/): an event that does not match (unknown type, missing, extra or mistyped
 * field) makes close() reject, which fails the test that closes it.
 */
export async function startServer(
  env: Record<string, string> = {},
  opts: StartServerOptions = {},
): Promise<MediaServer> {
  const server = new MediaServer(testConfig(env), silentLogger, { prep: AudioPrepPool.start });
  const invalid: string[] = [];
  const own = opts.ownEvents ?? [];
  // A wrapper rather than a listener: tests count the bus's listeners (gRPC and WebSocket streams).
  const bus = server.events;
  const emit = bus.emit.bind(bus);
  bus.emit = (type, payload) => {
    const e = emit(type, payload);
    if (own.some((p) => e.type.startsWith(p))) return e;
    let problem: string | null;
    try {
      problem = eventProblem(e);
    } catch (err) {
      problem = `the schemas could not check it: ${String(err)}`;
    }
    if (problem !== null) invalid.push(`${JSON.stringify(e)}: ${problem}`);
    return e;
  };
  const close = server.close.bind(server);
  server.close = async () => {
    await close();
    if (invalid.length > 0) throw new Error(`events that do not match schemas/events/:\n${invalid.join('\n')}`);
  };
  await server.start();
  return server;
}

/** Resolves with the first event of `type` matching `pred`, emitted from now on. */
export function nextEvent(
  server: { events: { subscribe(l: (e: ServerEvent) => void): () => void } },
  type: string,
  pred: (e: ServerEvent) => boolean = () => true,
  timeoutMs = 5000,
): Promise<ServerEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = server.events.subscribe((e) => {
      if (e.type === type && pred(e)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(e);
      }
    });
  });
}
