import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/**
 * A real small file system (tmpfs of `bytes`) mounted for the test and unmounted after it, or
 * null where mounting is not allowed (not root, no CAP_SYS_ADMIN): the caller then falls back to
 * simulating ENOSPC.
 */
export function smallTmpfs(t: TestContext, bytes: number): string | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'small-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the file system holding `dir` until a write fails with ENOSPC; returns the filler's path. */
export function fillDisk(dir: string, leaveBytes = 0): string {
  const file = path.join(dir, 'filler.bin');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  if (leaveBytes > 0) {
    // give back some space: the filler shrinks by whole pages
    truncateSync(file, Math.max(0, statSync(file).size - leaveBytes));
  }
  return file;
}
