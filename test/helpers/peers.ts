/**
 * The external peers the tests talk to (programs and files nobody here wrote), how to tell
 * whether each is installed, and the Debian package that provides it.
 *
 * `test(name, needs('ffmpeg', 'sox'), async (t) => …)` skips the test, naming the tool, when a
 * peer is missing; under `CI=true` it never skips, so the test runs and fails (and test/run.ts
 * fails the run): coverage cannot shrink silently where every peer is meant to be installed.
 *
 * Programs are looked up on PATH (no process is started). Files are looked up below
 * `TEST_PEERS_ROOT` (default `/`), so a test can pretend they are missing.
 */
import { accessSync, appendFileSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

export interface PeerSpec {
  /** Programs that must be on PATH. */
  bins?: readonly string[];
  /** Absolute paths that must exist (below TEST_PEERS_ROOT); `{multiarch}` is the Debian triplet. */
  files?: readonly string[];
  /** The Debian package that provides them. */
  pkg: string;
}

const BARESIP_MODULES = ['aufile', 'aubridge', 'sndfile', 'ctrl_tcp', 'menu', 'opus', 'g722', 'g711'];

export const PEERS = {
  ffmpeg: { bins: ['ffmpeg'], pkg: 'ffmpeg' },
  ffprobe: { bins: ['ffprobe'], pkg: 'ffmpeg' },
  sox: { bins: ['sox'], pkg: 'sox' },
  soxi: { bins: ['soxi'], pkg: 'sox' },
  tshark: { bins: ['tshark'], pkg: 'tshark' },
  sipp: { bins: ['sipp'], pkg: 'sip-tester' },
  /** SIPp's sample captures (g711a.pcap, dtmf_2833_*.pcap). */
  'sipp-captures': {
    files: ['/usr/share/sip-tester/g711a.pcap', '/usr/share/sip-tester/dtmf_2833_1.pcap'],
    pkg: 'sip-tester',
  },
  opusinfo: { bins: ['opusinfo'], pkg: 'opus-tools' },
  opusdec: { bins: ['opusdec'], pkg: 'opus-tools' },
  'gst-launch-1.0': { bins: ['gst-launch-1.0'], pkg: 'gstreamer1.0-tools' },
  /** GStreamer's spandsp plugin (dtmfdetect). */
  'gst-spandsp': { files: ['/usr/lib/{multiarch}/gstreamer-1.0/libgstspandsp.so'], pkg: 'gstreamer1.0-plugins-bad' },
  'espeak-ng': { bins: ['espeak-ng'], pkg: 'espeak-ng' },
  /** festival's text2wave (with its default voice). */
  text2wave: { bins: ['text2wave'], pkg: 'festival' },
  baresip: {
    bins: ['baresip'],
    files: BARESIP_MODULES.map((m) => `/usr/lib/baresip/modules/${m}.so`),
    pkg: 'baresip-core',
  },
  /** A Redis server for the cluster tests (test/helpers/redis.ts). */
  'redis-server': { bins: ['redis-server'], pkg: 'redis-server' },
  /** Asterisk's recorded English prompts (8 kHz speech). */
  'asterisk-sounds': {
    files: ['all-circuits-busy-now', 'demo-congrats', 'vm-intro', 'hello', 'goodbye', 'vm-nobodyavail'].map(
      (f) => `/usr/share/asterisk/sounds/en/${f}.wav`,
    ),
    pkg: 'asterisk-core-sounds-en-wav',
  },
  /** The toolchain node-gyp builds the batched-UDP addon with at install (binding.gyp). */
  'g++': { bins: ['g++'], pkg: 'g++' },
  make: { bins: ['make'], pkg: 'make' },
  python3: { bins: ['python3'], pkg: 'python3' },
} as const satisfies Record<string, PeerSpec>;

export type Peer = keyof typeof PEERS;

const MULTIARCH: Record<string, string> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  ia32: 'i386-linux-gnu',
};

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, bin), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function fileThere(file: string): boolean {
  const resolved = file.replace('{multiarch}', MULTIARCH[process.arch] ?? `${process.arch}-linux-gnu`);
  return existsSync(path.join(process.env.TEST_PEERS_ROOT ?? '/', resolved));
}

const cache = new Map<string, boolean>();

/** Whether `peer` is installed (looked up once per PATH and TEST_PEERS_ROOT). */
export function hasPeer(peer: Peer): boolean {
  const key = `${peer}\0${process.env.PATH}\0${process.env.TEST_PEERS_ROOT}`;
  let ok = cache.get(key);
  if (ok === undefined) {
    const spec: PeerSpec = PEERS[peer];
    ok = (spec.bins ?? []).every(onPath) && (spec.files ?? []).every(fileThere);
    cache.set(key, ok);
  }
  return ok;
}

/** Every registered peer that is not installed, in registry order. */
export function missingPeers(): Peer[] {
  return (Object.keys(PEERS) as Peer[]).filter((p) => !hasPeer(p));
}

/** The Debian packages that provide `peers`, each once, in order. */
export function packagesFor(peers: readonly Peer[]): string[] {
  return [...new Set(peers.map((p) => PEERS[p].pkg))];
}

export function ciMode(): boolean {
  return process.env.CI === 'true';
}

/**
 * node:test options for a test that uses `peers`: `{ skip: 'needs ffmpeg, sox (apt-get install
 * ffmpeg sox)' }` when any is missing, `{}` when all are there or under CI. Each skip is appended
 * to the file named by TEST_PEERS_REPORT (set by test/run.ts) for the run's summary line.
 */
export function needs(...peers: Peer[]): { skip?: string } {
  const missing = peers.filter((p) => !hasPeer(p));
  if (missing.length === 0 || ciMode()) return {};
  const report = process.env.TEST_PEERS_REPORT;
  if (report) appendFileSync(report, `${missing.join(' ')}\n`);
  return { skip: `needs ${missing.join(', ')} (apt-get install ${packagesFor(missing).join(' ')})` };
}
