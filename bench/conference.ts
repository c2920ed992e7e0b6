/**
 * npm run bench:conference — conferences of 10 PCMU participants on one media worker.
 *
 * The server runs in a child process (its CPU time measured alone); this process is the load
 * generator: every participant is a UDP socket sending a 20 ms PCMU frame of its own tone every
 * 20 ms (paced on absolute time) and counting the mix-minus frames it gets back. The number of
 * conferences steps up; each step reports output loss, the mixer's tick lateness (p50/p99, from
 * the engine's histogram: how late after its scheduled 20 ms instant each mix ran), jitter
 * buffer concealment, and the server's CPU per participant. The highest count with loss < 1% and
 * p99 lateness < 5 ms is the result.
 *
 * Baselines, measured in this run on this machine: the pure cost of the Mixer alone, and of
 * the same per-participant pipeline without sockets (jitter buffer, G.711 decode, mix, encode).
 * The ratio server/pipeline says what the sockets, the worker and the clock add.
 *
 * Options: --seconds=3 (per step) --size=10 (participants per conference) --max=60 (conferences)
 *          --steps=1,2,4,8,... (explicit conference counts)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PcmuCodec } from '../src/media/codecs/g711.ts';
import { JitterBuffer } from '../src/media/dsp/JitterBuffer.ts';
import { Mixer } from '../src/media/dsp/Mixer.ts';

const args: Record<string, string> = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
/** Set in the server child's environment (never a flag, so it cannot be passed on by mistake). */
const IS_CHILD = process.env.BENCH_CONFERENCE_CHILD === '1';

// ---- the server under test (child process) ---------------------------------------------------

async function child(): Promise<void> {
  const { loadConfig } = await import('../src/config/config.ts');
  const { silentLogger } = await import('../src/common/logger.ts');
  const { MediaServer } = await import('../src/control/MediaServer.ts');
  const { AudioPrepPool } = await import('../src/media/prep/AudioPrepPool.ts');
  const config = loadConfig({
    MEDIA_WORKERS: '1',
    LOG_LEVEL: 'silent',
    RTP_PORT_START: '32000',
    RTP_PORT_END: '39999',
    MEDIA_TIMEOUT_MS: '0',
  });
  const server = new MediaServer(config, silentLogger, { prep: AudioPrepPool.start });
  await server.start();
  const conferences = server.conferences;
  const size = Number(args.size ?? '10');
  // Ports of the generator are unknown here: symmetric RTP latches on the first packet.
  const offer = [
    'v=0',
    'o=gen 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 9 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    '',
  ].join('\r\n');
  const ports: number[] = [];
  let rooms = 0;
  const out = (o: unknown): void => {
    process.stdout.write(JSON.stringify(o) + '\n');
  };
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.split(' ');
    if (cmd === 'grow') {
      while (rooms < Number(arg)) {
        const id = `bench-${rooms++}`;
        await conferences.create({ id, entryTone: false, exitTone: false });
        for (let i = 0; i < size; i++) {
          const ep = await server.createEndpoint({ remote_sdp: offer, affinity: id });
          await conferences.addParticipant(id, { endpointId: ep.id });
          ports.push(ep.rtp_port);
        }
      }
      out({ ports });
    } else if (cmd === 'stats') {
      const stats = await server.request(0, 'conference.stats', { reset: true });
      out({ cpu: process.cpuUsage(), stats });
    } else if (cmd === 'exit') {
      await server.close();
      out({ ok: true });
      process.exit(0);
    }
  }
  // stdin closed: the generator is gone.
  await server.close();
  process.exit(0);
}

// ---- generator and report (this process) -----------------------------------------------------

class Server {
  readonly proc: ChildProcess;
  readonly #lines: string[] = [];
  #waiters: Array<(l: string) => void> = [];
  constructor() {
    this.proc = spawn(
      process.execPath,
      ['--import', 'tsx', new URL(import.meta.url).pathname, ...process.argv.slice(2)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_CONFERENCE_CHILD: '1' },
      },
    );
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      const w = this.#waiters.shift();
      if (w) w(l);
      else this.#lines.push(l);
    });
  }
  async ask(cmd: string): Promise<any> {
    this.proc.stdin!.write(cmd + '\n');
    const l = this.#lines.shift();
    return JSON.parse(l !== undefined ? l : await new Promise<string>((r) => this.#waiters.push(r)));
  }
}

interface Member {
  sock: dgram.Socket;
  port: number;
  seq: number;
  received: number;
  freq: number;
}

function ulaw(s: number): number {
  // G.711 μ-law (ITU-T G.711 table 2), for the generator's tones.
  const BIAS = 0x84;
  let sign = 0;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > 32635) s = 32635;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

async function main(): Promise<void> {
  const seconds = Number(args.seconds ?? '3');
  const size = Number(args.size ?? '10');
  const maxRooms = Number(args.max ?? '60');
  const steps = (args.steps ?? '1,2,4,6,8,10,12,16,20,24,28,32,40,48,56,64')
    .split(',')
    .map(Number)
    .filter((n) => n <= maxRooms);

  const pure = pureCosts(size);
  console.log(
    `baselines (no sockets), CPU µs per participant-second: Mixer alone ${pure.mixerUs.toFixed(1)}, ` +
      `jitter buffer + decode + mix + encode ${pure.pipelineUs.toFixed(1)}`,
  );

  const server = new Server();
  const members: Member[] = [];
  // One tone table per member frequency, 20 ms of μ-law.
  const frames = new Map<number, Buffer[]>();
  const frameFor = (freq: number, n: number): Buffer => {
    let list = frames.get(freq);
    if (list === undefined) {
      list = [];
      // Whole periods repeat every 8000/gcd samples; 50 frames (1 s) is a whole number for 10 Hz multiples.
      for (let f = 0; f < 50; f++) {
        const b = Buffer.alloc(172);
        b[0] = 0x80;
        for (let i = 0; i < 160; i++)
          b[12 + i] = ulaw(Math.round(4000 * Math.sin((2 * Math.PI * freq * (f * 160 + i)) / 8000)));
        list.push(b);
      }
      frames.set(freq, list);
    }
    return list[n % 50]!;
  };
  let sent = 0;
  const t0 = performance.now();
  let tick = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 20);
    while (tick < due) {
      tick++;
      for (const m of members) {
        const b = frameFor(m.freq, tick);
        m.seq = (m.seq + 1) & 0xffff;
        b.writeUInt16BE(m.seq, 2);
        b.writeUInt32BE((tick * 160) >>> 0, 4);
        b.writeUInt32BE(m.port, 8);
        m.sock.send(b, m.port, '127.0.0.1');
        sent++;
      }
    }
  }, 5);

  const results: Array<{ rooms: number; ok: boolean; cpuUsPerParticipantSecond: number }> = [];
  console.log('rooms participants  out-loss%  late-p50ms  late-p99ms  concealed%  cpu%   cpu µs/participant·s');
  for (const rooms of steps) {
    const { ports } = await server.ask(`grow ${rooms}`);
    for (const port of (ports as number[]).slice(members.length)) {
      const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      sock.bind(0, '127.0.0.1');
      await once(sock, 'listening');
      const m: Member = { sock, port, seq: 0, received: 0, freq: 300 + 100 * (members.length % size) };
      sock.on('message', () => {
        m.received++;
      });
      members.push(m);
    }
    // Settle (jitter buffers fill, latching), then measure.
    await new Promise((r) => setTimeout(r, 1000));
    const before = await server.ask('stats');
    const recv0 = members.reduce((s, m) => s + m.received, 0);
    const start = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = await server.ask('stats');
    const elapsed = (performance.now() - start) / 1000;
    const received = members.reduce((s, m) => s + m.received, 0) - recv0;
    const expected = members.length * 50 * elapsed;
    const loss = Math.max(0, 1 - received / expected);
    const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
    const st = after.stats;
    const jbFrames = st.jbReceived - before.stats.jbReceived;
    const concealed = jbFrames > 0 ? (st.jbConcealed - before.stats.jbConcealed) / jbFrames : 0;
    const perPart = cpuUs / members.length / elapsed;
    const ok = loss < 0.01 && st.tickLateP99Ms < 5;
    results.push({ rooms, ok, cpuUsPerParticipantSecond: perPart });
    console.log(
      `${String(rooms).padStart(5)} ${String(members.length).padStart(12)} ${(loss * 100).toFixed(2).padStart(10)} ${st.tickLateP50Ms.toFixed(1).padStart(11)} ${st.tickLateP99Ms.toFixed(1).padStart(11)} ${(concealed * 100).toFixed(2).padStart(11)} ${((cpuUs / elapsed / 1e6) * 100).toFixed(0).padStart(5)} ${perPart.toFixed(0).padStart(22)}${ok ? '' : '  <- fails'}`,
    );
    if (!ok && results.filter((r) => !r.ok).length >= 2) break;
  }
  clearInterval(timer);
  await server.ask('exit');
  for (const m of members) m.sock.close();
  const best = results.filter((r) => r.ok).at(-1);
  if (best === undefined) {
    console.log('no passing step');
    return;
  }
  console.log(
    `\nhighest passing: ${best.rooms} conferences of ${size} (${best.rooms * size} participants) on one worker; ` +
      `${best.cpuUsPerParticipantSecond.toFixed(0)} µs CPU per participant-second (${(best.cpuUsPerParticipantSecond / 1e4).toFixed(2)}% of a core)`,
  );
  console.log(
    `ratio server / pure pipeline (JB+decode+mix+encode, no sockets): ${(best.cpuUsPerParticipantSecond / pure.pipelineUs).toFixed(1)}x; ` +
      `server / Mixer alone: ${(best.cpuUsPerParticipantSecond / pure.mixerUs).toFixed(1)}x; packets sent by the generator: ${sent}`,
  );
}

/** CPU µs per participant per second of audio: the Mixer alone, and the whole pipeline without I/O. */
function pureCosts(size: number): { mixerUs: number; pipelineUs: number } {
  const frames = 3000; // 60 s of audio
  const mixer = new Mixer({ frameSamples: 160 });
  const chans = Array.from({ length: size }, () => mixer.add());
  for (const [k, ch] of chans.entries())
    for (let i = 0; i < 160; i++) ch.input[i] = Math.round(4000 * Math.sin((2 * Math.PI * (300 + 100 * k) * i) / 8000));
  let t = performance.now();
  for (let f = 0; f < frames; f++) {
    for (const ch of chans) ch.hasInput = true;
    mixer.mix();
  }
  const mixerUs = ((performance.now() - t) * 1000) / (frames / 50) / size;

  const codec = new PcmuCodec();
  const jbs = chans.map(() => new JitterBuffer({ clockRate: 8000 }));
  const payload = new Uint8Array(160);
  const buf = new Uint8Array(1500);
  const out = new Uint8Array(160);
  codec.encode(chans[0]!.input, payload);
  t = performance.now();
  for (let f = 0; f < frames; f++) {
    const now = f * 20;
    for (let c = 0; c < size; c++) {
      const jb = jbs[c]!;
      jb.put(f & 0xffff, f * 160, payload, now);
      const n = jb.get(buf, now + 20);
      if (n > 0) codec.decode(buf.subarray(0, n), chans[c]!.input);
      chans[c]!.hasInput = true;
    }
    mixer.mix();
    for (const ch of chans) codec.encode(ch.output, out);
  }
  const pipelineUs = ((performance.now() - t) * 1000) / (frames / 50) / size;
  return { mixerUs, pipelineUs };
}

if (IS_CHILD) await child();
else await main();
