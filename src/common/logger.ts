import { pino, type Logger } from 'pino';

export type { Logger };

/** Root JSON logger; modules take `logger.child({ module: 'name' })`. Never log per packet. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing, for tests and pure code that wants an optional logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
