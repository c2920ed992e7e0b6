/**
 * The relay under test, as a child process driven by line commands on stdin:
 *   `calls N`  → grow to N bridged calls, answer `{"legs":[[portA,portB],...]}`
 *   `cpu`      → answer `{"cpuUs":..., "relayed":...}` (process CPU time, packets relayed)
 * Mode `bare`: a plain Node dgram relay, the ceiling. Mode `server`: media-server-core's
 * MediaServer with MEDIA_WORKERS workers, endpoints answered from SDP and bridged.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config/config.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { MediaServer } from '../../src/control/MediaServer.ts';
import { AudioPrepPool } from '../../src/media/prep/AudioPrepPool.ts';

const mode = process.argv[2];
const workers = Number(process.argv[3] ?? '1');

interface Relay {
  grow(n: number): Promise<Array<[number, number]>>;
  relayed(): Promise<number>;
  close(): Promise<void>;
}

/** Two sockets per call; each forwards to the address last seen on the other (latching). */
function bareRelay(): Relay {
  const legs: Array<[number, number]> = [];
  let relayed = 0;
  return {
    async grow(n) {
      while (legs.length < n) {
        const a = dgram.createSocket('udp4');
        const b = dgram.createSocket('udp4');
        a.bind(0, '127.0.0.1');
        b.bind(0, '127.0.0.1');
        await Promise.all([once(a, 'listening'), once(b, 'listening')]);
        let peerA = 0;
        let peerB = 0;
        a.on('message', (msg, rinfo) => {
          peerA = rinfo.port;
          if (peerB !== 0) { b.send(msg, peerB, '127.0.0.1'); relayed++; }
        });
        b.on('message', (msg, rinfo) => {
          peerB = rinfo.port;
          if (peerA !== 0) { a.send(msg, peerA, '127.0.0.1'); relayed++; }
        });
        legs.push([a.address().port, b.address().port]);
      }
      return legs;
    },
    async relayed() { return relayed; },
    async close() {},
  };
}

async function serverRelay(): Promise<Relay> {
  const config = loadConfig({ MEDIA_WORKERS: String(workers), LOG_LEVEL: 'silent', RTP_PORT_START: '10000', RTP_PORT_END: '30999', MEDIA_TIMEOUT_MS: '0' });
  const server = new MediaServer(config, silentLogger, { prep: AudioPrepPool.start });
  await server.start();
  const legs: Array<[number, number]> = [];
  // A typical phone's offer: PCMU with telephone-event (a peer without it would also get in-band
  // DTMF detection, which decodes every packet: see DTMF_INBAND).
  // The generator's ports are unknown here: the SDP names a placeholder and symmetric RTP
  // latches on the first packet, as it would behind a NAT.
  const offer = ['v=0', 'o=gen 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 9 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=ptime:20', ''].join('\r\n');
  return {
    async grow(n) {
      while (legs.length < n) {
        const affinity = `call-${legs.length}`;
        const a = await server.createEndpoint({ remote_sdp: offer, affinity });
        const b = await server.createEndpoint({ remote_sdp: offer, affinity });
        await server.createBridge({ endpoint_a: a.id, endpoint_b: b.id });
        legs.push([a.rtp_port, b.rtp_port]);
      }
      return legs;
    },
    async relayed() {
      return (await server.workerMetrics()).reduce((s, m) => s + m.packetsRelayed, 0);
    },
    close: () => server.close(),
  };
}

const relay = mode === 'bare' ? bareRelay() : await serverRelay();
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'calls') {
    try {
      const legs = await relay.grow(Number(arg));
      process.stdout.write(JSON.stringify({ legs }) + '\n');
    } catch (err) {
      // e.g. EMFILE: the machine's open-file limit, not the relay, ends the stepping
      process.stdout.write(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) + '\n');
    }
  } else if (cmd === 'cpu') {
    const u = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpuUs: u.user + u.system, relayed: await relay.relayed() }) + '\n');
  } else if (cmd === 'exit') {
    await relay.close();
    process.exit(0);
  }
});
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
