import { pino, type Logger } from 'pino';

export type { Logger };

/** Root JSON logger; each module takes `moduleLogger(root, 'name')` once. Never log per packet. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * The logger of one module: the root's child binding `module` once. pino writes every binding
 * of every ancestor, so a module logger made from another module's logger would print `module`
 * twice; given its own module's logger it returns it as is, given another module's it throws
 * (pass the root logger down instead).
 */
export function moduleLogger(root: Logger, module: string): Logger {
  const bound = (root.bindings() as { module?: unknown }).module;
  if (bound === module) return root;
  if (bound !== undefined)
    throw new Error(`the '${module}' logger must be made from the root logger, not from '${String(bound)}'`);
  return root.child({ module });
}

/** A logger that writes nothing, for tests and pure code that wants an optional logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
