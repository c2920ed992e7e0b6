import fs from 'node:fs';
import type { Config } from './config.ts';

export interface DirectoryProblem {
  setting: 'RECORDINGS_DIR' | 'FLOWS_DIR';
  dir: string;
  cause: string;
  /** What stops working: the operator's log line says it. */
  effect: string;
}

/**
 * The directories the server writes, checked once at start-up so an unprivileged user or a
 * read-only mount shows up in the log with the path and the cause, not as failures per request.
 * The recordings directory is created when missing.
 */
export function checkWritableDirs(config: Pick<Config, 'recordingsDir' | 'flowsDir'>): DirectoryProblem[] {
  const problems: DirectoryProblem[] = [];
  const check = (setting: DirectoryProblem['setting'], dir: string, create: boolean, effect: string) => {
    try {
      if (create) fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      problems.push({ setting, dir, cause: (err as NodeJS.ErrnoException).code ?? String(err), effect });
    }
  };
  check('RECORDINGS_DIR', config.recordingsDir, true, 'recordings cannot be written until it is');
  if (fs.existsSync(config.flowsDir))
    check('FLOWS_DIR', config.flowsDir, false, 'PUT/DELETE /flows answer 409 FLOWS_DIR_NOT_WRITABLE');
  return problems;
}
