import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { NotFoundError, ValidationError } from '../../src/common/errors.ts';
import { resolveSafePath } from '../../src/common/safePath.ts';

async function layout(t: { after: (fn: () => Promise<void>) => void }) {
  const base = await mkdtemp(path.join(tmpdir(), 'safepath-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = path.join(base, 'media');
  const other = path.join(base, 'other');
  await mkdir(path.join(root, 'sub'), { recursive: true });
  await mkdir(other);
  await writeFile(path.join(root, 'sub', 'ok.wav'), 'x');
  await writeFile(path.join(other, 'secret.wav'), 'x');
  await symlink(path.join(other, 'secret.wav'), path.join(root, 'escape.wav'));
  await symlink(other, path.join(root, 'escape-dir'));
  await symlink(path.join(root, 'sub', 'ok.wav'), path.join(root, 'inner-link.wav'));
  return { base, root, other };
}

const forbidden = (err: unknown): boolean => err instanceof ValidationError && err.code === 'MEDIA_PATH_FORBIDDEN';

test('resolveSafePath() accepts relative and absolute paths inside a root, and links that stay inside', async (t) => {
  const { root } = await layout(t);
  const real = path.join(root, 'sub', 'ok.wav');
  assert.equal(await resolveSafePath('sub/ok.wav', [root]), real);
  assert.equal(await resolveSafePath(real, [root]), real);
  assert.equal(await resolveSafePath('inner-link.wav', [root]), real);
  assert.equal(await resolveSafePath('sub/./ok.wav', [root]), real);
});

test('resolveSafePath() rejects ../ traversal and absolute paths outside the roots', async (t) => {
  const { root, other } = await layout(t);
  await assert.rejects(resolveSafePath('../../etc/passwd', [root]), forbidden);
  await assert.rejects(resolveSafePath('sub/../../other/secret.wav', [root]), forbidden);
  await assert.rejects(resolveSafePath('/etc/passwd', [root]), forbidden);
  await assert.rejects(resolveSafePath(path.join(other, 'secret.wav'), [root]), forbidden);
  // A sibling whose name starts with the root's name is not inside it.
  await assert.rejects(resolveSafePath(`${root}-evil/x.wav`, [root]), forbidden);
});

test('resolveSafePath() rejects symlinks that escape the roots (file and directory links)', async (t) => {
  const { root, other } = await layout(t);
  await assert.rejects(resolveSafePath('escape.wav', [root]), forbidden);
  await assert.rejects(resolveSafePath('escape-dir/secret.wav', [root]), forbidden);
  // ...but the same file is fine when its real directory is an allowed root too.
  assert.equal(await resolveSafePath('escape.wav', [root, other]), path.join(other, 'secret.wav'));
});

test('resolveSafePath() reports a missing file as NotFoundError and needs a root', async (t) => {
  const { root } = await layout(t);
  await assert.rejects(
    resolveSafePath('nope.wav', [root]),
    (err: unknown) => err instanceof NotFoundError && err.code === 'MEDIA_NOT_FOUND',
  );
  await assert.rejects(resolveSafePath('sub/ok.wav', []), ValidationError);
  await assert.rejects(resolveSafePath('a\0b', [root]), ValidationError);
});

test('resolveWritablePath() resolves each folder: links inside the root are followed, links out refused, nothing created outside', async (t) => {
  const { root, other } = await layout(t);
  const { resolveWritablePath } = await import('../../src/common/safePath.ts');
  const pathForbidden = (err: unknown): boolean => err instanceof ValidationError && err.code === 'PATH_FORBIDDEN';
  assert.equal(await resolveWritablePath(root, 'new/deeper/x.wav'), path.join(root, 'new', 'deeper', 'x.wav'));
  await symlink(path.join(root, 'sub'), path.join(root, 'sub-link'));
  assert.equal(await resolveWritablePath(root, 'sub-link/y.wav'), path.join(root, 'sub', 'y.wav'));
  await assert.rejects(resolveWritablePath(root, 'escape-dir/a/b.wav'), pathForbidden);
  await assert.rejects(resolveWritablePath(root, 'escape.wav'), pathForbidden);
  await assert.rejects(resolveWritablePath(root, 'sub/ok.wav/x.wav'), pathForbidden);
  await assert.rejects(resolveWritablePath(root, '../x.wav'), pathForbidden);
  assert.deepEqual((await readdir(other)).sort(), ['secret.wav']);
});

test('openNoFollow() refuses a final symlink, a hard-linked file and a FIFO (without blocking), and overwrite truncates only after the checks', async (t) => {
  const { root, other } = await layout(t);
  const { openNoFollow } = await import('../../src/common/safePath.ts');
  const pathForbidden = (err: unknown): boolean => err instanceof ValidationError && err.code === 'PATH_FORBIDDEN';
  await assert.rejects(openNoFollow(path.join(root, 'escape.wav'), 'overwrite'), pathForbidden);
  await assert.rejects(openNoFollow(path.join(root, 'escape.wav'), 'read'), pathForbidden);
  await assert.rejects(openNoFollow(path.join(root, 'escape.wav'), 'create'), { code: 'EEXIST' });
  await link(path.join(other, 'secret.wav'), path.join(root, 'hard.wav'));
  await assert.rejects(openNoFollow(path.join(root, 'hard.wav'), 'overwrite'), pathForbidden);
  assert.equal(await readFile(path.join(other, 'secret.wav'), 'utf8'), 'x', 'not truncated');
  execFileSync('mkfifo', [path.join(root, 'pipe.wav')]);
  await assert.rejects(openNoFollow(path.join(root, 'pipe.wav'), 'overwrite'), pathForbidden);
  await assert.rejects(openNoFollow(path.join(root, 'pipe.wav'), 'read'), pathForbidden);
  const fh = await openNoFollow(path.join(root, 'sub', 'ok.wav'), 'overwrite');
  await fh.close();
  assert.equal(await readFile(path.join(root, 'sub', 'ok.wav'), 'utf8'), '');
});
