import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, StorageError, ValidationError } from './errors.ts';

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Resolve a media path against allowed roots and return its real path.
 * A relative path is taken relative to the first root. The check is made twice: lexically (no
 * `..` escaping, absolute paths must lie under a root) and on the real path after following
 * symlinks, so a link inside a root that points outside is refused too.
 */
export async function resolveSafePath(requested: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) throw new ValidationError('INVALID_MEDIA', `${requested}: no media roots are configured`);
  if (requested.includes('\0')) throw new ValidationError('INVALID_MEDIA', 'path contains NUL');
  const absRoots = roots.map((r) => path.resolve(r));
  const candidate = path.isAbsolute(requested)
    ? path.resolve(requested)
    : path.resolve(absRoots[0] as string, requested);
  if (!absRoots.some((r) => inside(r, candidate))) {
    throw new ValidationError('MEDIA_PATH_FORBIDDEN', `${requested}: outside the allowed media roots`);
  }
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new NotFoundError('MEDIA_NOT_FOUND', `${requested}: no such media file`);
    }
    throw new ValidationError(
      'INVALID_MEDIA',
      `${requested}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const realRoots = await Promise.all(absRoots.map((r) => realpath(r).catch(() => r)));
  if (!realRoots.some((r) => inside(r, real))) {
    throw new ValidationError('MEDIA_PATH_FORBIDDEN', `${requested}: resolves outside the allowed media roots`);
  }
  return real;
}

/** Code of the 400 for a write path that leaves its directory (a symlink, a non-file in the way). */
export const PATH_FORBIDDEN = 'PATH_FORBIDDEN';

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * A file-system error as the API should see it: a full disk or quota is a StorageError (507
 * INSUFFICIENT_STORAGE); a final symlink refused by O_NOFOLLOW is PATH_FORBIDDEN; anything else
 * is returned unchanged.
 */
export function fsError(err: unknown, shown: string): unknown {
  const code = errno(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageError('INSUFFICIENT_STORAGE', `no space left for ${shown}`);
  }
  // Linux answers ELOOP for O_NOFOLLOW on a symlink; FreeBSD EMLINK.
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new ValidationError(PATH_FORBIDDEN, `${shown} is a symbolic link; files are never written through links`);
  }
  // A FIFO opened for writing with O_NONBLOCK and no reader.
  if (code === 'ENXIO') return new ValidationError(PATH_FORBIDDEN, `${shown} is not a regular file`);
  return err;
}

/**
 * The real path at which to write `relative` (segments separated by `/`, already checked
 * lexically by the caller) under `root`. Every directory component is resolved on its own: a
 * missing one is created (one level at a time, never through a link), an existing one must be a
 * directory whose real path lies under the real root (a symlink to a folder inside the root is
 * followed, one to anywhere else refused). The final component must not be a symlink or
 * anything but a regular file. Open the result with `openNoFollow()`, which refuses a link that
 * appeared since. Errors: ValidationError PATH_FORBIDDEN, StorageError when mkdir meets a full disk.
 */
export async function resolveWritablePath(root: string, relative: string): Promise<string> {
  if (relative.includes('\0')) throw new ValidationError(PATH_FORBIDDEN, 'path contains NUL');
  const segments = relative.split('/');
  const last = segments.pop();
  if (
    last === undefined ||
    last === '' ||
    last === '.' ||
    last === '..' ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new ValidationError(PATH_FORBIDDEN, `${JSON.stringify(relative)} is not a relative file name`);
  }
  try {
    await mkdir(root, { recursive: true });
  } catch (err) {
    throw fsError(err, relative);
  }
  const realRoot = await realpath(root);
  let dir = realRoot;
  for (const seg of segments) {
    const next = path.join(dir, seg);
    let st: Stats | null = null;
    try {
      st = await lstat(next);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw fsError(err, relative);
    }
    if (st === null) {
      try {
        await mkdir(next);
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw fsError(err, relative);
        // Created concurrently: check what it is now.
        st = await lstat(next);
      }
    }
    if (st !== null && st.isSymbolicLink()) {
      const real = await realpath(next).catch(() => null);
      if (real === null || !inside(realRoot, real) || !(await stat(real)).isDirectory()) {
        throw new ValidationError(
          PATH_FORBIDDEN,
          `${JSON.stringify(relative)}: ${seg} is a link that leads outside ${path.basename(root)}`,
        );
      }
      dir = real;
      continue;
    }
    if (st !== null && !st.isDirectory()) {
      throw new ValidationError(PATH_FORBIDDEN, `${JSON.stringify(relative)}: ${seg} is not a directory`);
    }
    dir = next;
  }
  const file = path.join(dir, last);
  try {
    const st = await lstat(file);
    if (st.isSymbolicLink())
      throw new ValidationError(
        PATH_FORBIDDEN,
        `${JSON.stringify(relative)} is a symbolic link; files are never written through links`,
      );
    if (!st.isFile())
      throw new ValidationError(PATH_FORBIDDEN, `${JSON.stringify(relative)} exists and is not a regular file`);
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err instanceof ValidationError ? err : fsError(err, relative);
  }
  return file;
}

/**
 * How `openNoFollow()` opens: 'create' a new file only (O_EXCL), 'overwrite' (create or empty),
 * 'update' an existing file read-write, 'append' (create or add at the end), 'read'.
 */
export type OpenMode = 'create' | 'overwrite' | 'update' | 'append' | 'read';

const BASE_FLAGS: Record<OpenMode, number> = {
  create: fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL,
  overwrite: fsConstants.O_WRONLY | fsConstants.O_CREAT,
  update: fsConstants.O_RDWR,
  append: fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_APPEND,
  read: fsConstants.O_RDONLY,
};

/**
 * Opens `file` without following a final symlink (O_NOFOLLOW) and without blocking on a FIFO
 * (O_NONBLOCK), then checks what was opened: a regular file with one link (a hard link would
 * let a write reach a file elsewhere). 'overwrite' truncates only after that check. Errors go
 * through `fsError()`; EEXIST (create) and ENOENT (update, read) are left for the caller.
 */
export async function openNoFollow(file: string, mode: OpenMode): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(file, BASE_FLAGS[mode] | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK, 0o644);
  } catch (err) {
    throw fsError(err, path.basename(file));
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ValidationError(PATH_FORBIDDEN, `${path.basename(file)} is not a regular file`);
    if (mode !== 'read' && st.nlink > 1)
      throw new ValidationError(PATH_FORBIDDEN, `${path.basename(file)} has other hard links; it is not overwritten`);
    if (mode === 'overwrite' && st.size > 0) await fh.truncate(0);
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fsError(err, path.basename(file));
  }
}
