// The package's `install` script: builds the optional batched-UDP addon (binding.gyp,
// native/udp_batch.c) with the node-gyp that ships with npm. It never fails the install: without
// a compiler, Python, headers or on a platform other than Linux, the server uses node:dgram
// (src/media/transport/udp/nativeUdp.ts logs which UDP I/O is used at start).
// Plain JavaScript: it runs before anything else of the package can (no tsx, no TypeScript).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build');
// The folder exists even when nothing is built (a Dockerfile COPY of it must not fail).
mkdirSync(buildDir, { recursive: true });
const logFile = path.join(buildDir, 'native-build.log');

function done(message) {
  writeFileSync(logFile, `${message}\n`, { flag: 'a' });
  process.exit(0);
}

if (process.env.UDP_IO === 'dgram' || process.env.MSC_SKIP_NATIVE === '1')
  done('skipped (UDP_IO=dgram or MSC_SKIP_NATIVE=1)');
if (process.platform !== 'linux') done(`skipped: recvmmsg/sendmmsg need Linux (platform ${process.platform})`);

// node-gyp: the one npm puts on PATH for lifecycle scripts, else the one bundled with npm.
const npmGyp = path.join(
  path.dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'node_modules',
  'node-gyp',
  'bin',
  'node-gyp.js',
);
const gypJs = process.env.npm_config_node_gyp || (existsSync(npmGyp) ? npmGyp : null);
if (!gypJs) done('skipped: node-gyp not found');
// Build against the running Node's own headers when it ships them (no download; works offline).
const prefix = path.join(path.dirname(process.execPath), '..');
const args = [gypJs, 'rebuild'];
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
writeFileSync(logFile, `${r.stdout ?? ''}${r.stderr ?? ''}`);
if (r.status !== 0) done(`native UDP addon not built (exit ${r.status ?? r.error?.message}); node:dgram will be used`);
done('native UDP addon built: build/Release/udp_batch.node');
