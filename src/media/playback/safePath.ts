import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../../common/errors.ts';

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
  const candidate = path.isAbsolute(requested) ? path.resolve(requested) : path.resolve(absRoots[0] as string, requested);
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
    throw new ValidationError('INVALID_MEDIA', `${requested}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const realRoots = await Promise.all(absRoots.map((r) => realpath(r).catch(() => r)));
  if (!realRoots.some((r) => inside(r, real))) {
    throw new ValidationError('MEDIA_PATH_FORBIDDEN', `${requested}: resolves outside the allowed media roots`);
  }
  return real;
}
