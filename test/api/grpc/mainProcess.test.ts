import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { RtpPeer } from '../../helpers/RtpPeer.ts';
import { testPortRange } from '../../helpers/server.ts';
import { freeTcpPort } from '../../helpers/mainProcess.ts';
import { GrpcTestClient, nextMessage, streamError } from './grpcClient.ts';

test('npm start entry with GRPC_PORT: the gRPC API answers beside REST, and SIGTERM with an open Events stream exits 0', async (t) => {
  const [apiPort, grpcPort] = [await freeTcpPort(), await freeTcpPort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      MEDIA_WORKERS: '1',
      ...testPortRange(),
      API_PORT: String(apiPort),
      GRPC_PORT: String(grpcPort),
      API_TOKEN: 'secret',
      DRAIN_TIMEOUT_MS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within 60 s: ${output}`)), 60_000);
    child.stdout.on('data', () => {
      if (output.includes('media-server-core ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${output}`));
    });
  });
  assert.match(output, new RegExp(`"grpc":"127\\.0\\.0\\.1:${grpcPort}"`), 'the log names the gRPC address');

  const client = new GrpcTestClient(grpcPort, 'secret');
  t.after(() => client.close());
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const stream = client.events({ since: 0, types: ['endpoint.created'] });
  const created = nextMessage(stream, () => true, 10_000);
  const ep = await client.call('CreateEndpoint', { remote_sdp: peer.offer(['pcmu']) });
  assert.equal(JSON.parse((await created).json).endpoint_id, ep.id);
  // the same control plane answers over REST
  const rest = await fetch(`http://127.0.0.1:${apiPort}/endpoints/${ep.id as string}`, {
    headers: { authorization: 'Bearer secret' },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(rest.status, 200);
  assert.equal(((await rest.json()) as { rtp_port: number }).rtp_port, ep.rtp_port);

  const ended = streamError(stream);
  child.kill('SIGTERM');
  assert.equal(
    (await ended.catch((err: Error) => assert.fail(`${err.message}; process output: ${output}`))).code,
    status.UNAVAILABLE,
  );
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(r, 15_000, 'still running').unref())]);
  assert.equal(code, 0, output);
});

test('npm start entry with GRPC_PORT already in use: logs why and exits 1 rather than running half started', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const grpcPort = (blocker.address() as net.AddressInfo).port;
  const apiPort = await freeTcpPort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      MEDIA_WORKERS: '1',
      ...testPortRange(),
      API_PORT: String(apiPort),
      GRPC_PORT: String(grpcPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const code = await Promise.race([
    new Promise<number | null>((r) => child.on('exit', (c) => r(c))),
    new Promise<string>((r) => setTimeout(r, 30_000, 'still running').unref()),
  ]);
  assert.equal(code, 1, output);
  assert.match(output, /cannot start: .*EADDRINUSE/);
  assert.doesNotMatch(output, /media-server-core ready/);
});
