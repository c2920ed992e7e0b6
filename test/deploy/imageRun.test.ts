import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstExternalIpv4 } from '../../src/control/LocalAddress.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { testPortRange } from '../helpers/server.ts';
import { freeTcpPort } from '../helpers/mainProcess.ts';

/**
 * There is no Docker engine here, so this runs the server the way the image does: the compiled
 * dist/ (npm run build), the Dockerfile's own ENV and CMD, as an unprivileged user, with its
 * writable directories owned by that user. It checks the SDP it writes (never 0.0.0.0), a flow
 * upload and a recording.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNPRIVILEGED = { uid: 65534, gid: 65534 }; // nobody:nogroup, as the image's `media` user has no privileges

/** `ENV K=V` lines and the JSON `CMD [...]` of the runtime stage. */
function readDockerfile(): { env: Record<string, string>; cmd: string[] } {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV ([A-Z_]+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  const cmd = /^CMD (\[.*\])$/m.exec(runtime);
  assert.ok(cmd, 'the Dockerfile has a JSON-form CMD');
  return { env, cmd: JSON.parse(cmd[1]!) as string[] };
}

/** Whether the unprivileged user can read the checkout (a clone under a private home cannot). */
function readableBy(user: { uid: number; gid: number }): boolean {
  const probe = spawnSync(
    process.execPath,
    ['-e', `require('fs').accessSync(${JSON.stringify(path.join(ROOT, 'dist/main.js'))})`],
    { ...user },
  );
  return probe.status === 0;
}

function connectionAddress(sdp: string): string {
  const m = /^c=IN IP4 (\S+)/m.exec(sdp);
  assert.ok(m, `no c= line in ${sdp}`);
  return m[1]!;
}

test('the image way: dist/ with the Dockerfile ENV and CMD as an unprivileged user announces a real address, takes a flow upload and records', async (t) => {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`);

  const { env: imageEnv, cmd } = readDockerfile();
  assert.equal(imageEnv.RTP_BIND_IP, '0.0.0.0', 'the image binds RTP to the wildcard');
  assert.equal(imageEnv.PUBLIC_IP, undefined, 'the image sets no PUBLIC_IP: the address is found at run time');
  assert.deepEqual(cmd.slice(0, 2), ['node', 'dist/main.js'], 'the image runs compiled JavaScript');

  const asRoot = process.getuid?.() === 0;
  const user = asRoot && readableBy(UNPRIVILEGED) ? UNPRIVILEGED : null;
  if (!user) t.diagnostic('running as the current user: not root, or the checkout is not readable by nobody');

  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'msc-image-'));
  t.after(() => fs.rmSync(state, { recursive: true, force: true }));
  fs.chmodSync(state, 0o755);
  const recordingsDir = path.join(state, 'recordings');
  const flowsDir = path.join(state, 'flows');
  fs.mkdirSync(recordingsDir);
  fs.cpSync(path.join(ROOT, 'flows'), flowsDir, { recursive: true });
  if (user) {
    for (const p of [
      recordingsDir,
      flowsDir,
      ...fs.readdirSync(flowsDir, { recursive: true }).map((f) => path.join(flowsDir, String(f))),
    ]) {
      fs.chownSync(p, user.uid, user.gid);
    }
  }

  const apiPort = await freeTcpPort();
  const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...imageEnv,
      // only what a deployment sets around the image: its volumes, ports and token
      RECORDINGS_DIR: recordingsDir,
      FLOWS_DIR: flowsDir,
      API_PORT: String(apiPort),
      API_TOKEN: 'image-secret',
      MEDIA_WORKERS: '1',
      // SIGTERM at the end stops at once with the call still up (drain.test.ts covers waiting)
      DRAIN_TIMEOUT_MS: '0',
      ...testPortRange(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user ?? {}),
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));

  const external = firstExternalIpv4();
  if (!external) {
    // No interface to announce: the server must refuse to start, saying so.
    assert.notEqual(await exited, 0);
    assert.match(output, /no non-loopback IPv4 address to announce/);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const check = () => (output.includes('media-server-core ready') ? resolve() : undefined);
    child.stdout.on('data', check);
    exited.then((code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  assert.doesNotMatch(output, /is not writable/, 'every directory the server writes is writable by its user');

  const base = `http://127.0.0.1:${apiPort}`;
  const call = async (method: string, url: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: 'Bearer image-secret', ...(body === undefined ? {} : { 'content-type': type }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };

  // An offer (no peer yet) announces the host's first non-loopback address, never the wildcard.
  const offer = await call('POST', '/endpoints', {});
  assert.equal(offer.status, 201, JSON.stringify(offer.body));
  assert.equal(connectionAddress(offer.body.sdp), external);
  assert.equal(offer.body.ip, external);
  assert.equal((await call('DELETE', `/endpoints/${offer.body.id}`)).status, 204);

  // An answer to a peer on loopback announces the interface that routes to it.
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const answer = await call('POST', '/endpoints', { remote_sdp: peer.offer(['pcmu']) });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.equal(connectionAddress(answer.body.sdp), '127.0.0.1');
  assert.doesNotMatch(answer.body.sdp, /0\.0\.0\.0/);

  // A flow upload lands in the writable flows directory.
  const yaml = 'name: uploaded\nstart: bye\nsteps:\n  bye:\n    type: hangup\n';
  const put = await call('PUT', '/flows/uploaded', yaml, 'text/yaml');
  assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
  assert.ok(fs.existsSync(path.join(flowsDir, 'uploaded.yaml')));

  // A recording of the call, written by the server's user.
  const rec = await call('POST', '/recordings', { endpoint_id: answer.body.id, format: 'wav' });
  assert.equal(rec.status, 201, JSON.stringify(rec.body));
  for (let i = 0; i < 25; i++) {
    peer.send(answer.body.rtp_port, Buffer.alloc(160, 0x55));
    await new Promise((r) => setTimeout(r, 20));
  }
  const stopped = await call('DELETE', `/recordings/${rec.body.id}`);
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  const file = stopped.body.path as string;
  assert.ok(file.startsWith(recordingsDir), file);
  const st = fs.statSync(file);
  assert.ok(st.size > 44, 'the WAV holds audio');
  if (user) assert.equal(st.uid, user.uid, 'written by the unprivileged user');

  child.kill('SIGTERM');
  assert.equal(await exited, 0, output);
});

test('RTP_BIND_IP that is not an address of this host is a start-up error naming the fix', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      MEDIA_WORKERS: '1',
      API_PORT: '0',
      RTP_BIND_IP: '203.0.113.77',
      ...testPortRange(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 1, output);
  assert.match(output, /cannot bind RTP sockets to RTP_BIND_IP=203\.0\.113\.77: EADDRNOTAVAIL/);
  assert.match(output, /PUBLIC_IP/);
});
