/**
 * The load side of bench:streams, in its own process so that the server's CPU is measured alone:
 * RTP peers (one or two UDP sockets per call) and an echo bot (Twilio Media Streams messages,
 * `ws` only) that sends every caller chunk straight back. Every RTP payload carries a frame
 * number in its first four bytes (µ-law codes 0x10..0x1f, which G.711 decoding and encoding keep),
 * so each echoed or relayed packet is matched to the one it came from. The calls are spread over
 * ten send phases within the 20 ms frame.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';

interface Cmd {
  cmd: 'open' | 'run' | 'exit';
  n?: number;
  /** run: per call, the server port to send to, and whether the answer comes back on socket b (relay). */
  targets?: number[];
  relay?: boolean;
  seconds?: number;
}

const sockA: dgram.Socket[] = [];
const sockB: dgram.Socket[] = [];
/** Per frame number (global): when its RTP left, when the bot got it and when the bot sent it back. */
const sentAt = new Map<number, number>();
const botGot = new Map<number, number>();
const loop: number[] = [];
const inbound: number[] = [];

function frameOf(b: Uint8Array, off = 0): number {
  let n = 0;
  for (let i = 0; i < 4; i++) {
    const v = b[off + i]!;
    if (v < 0x10 || v > 0x1f) return -1;
    n = (n << 4) | (v - 0x10);
  }
  return n;
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => {
  let sid = '';
  ws.on('message', (data) => {
    const s = String(data);
    if (s.charCodeAt(2) === 101 && s.startsWith('{"event":"media"')) {
      const m = JSON.parse(s) as { media: { payload: string } };
      const bytes = Buffer.from(m.media.payload, 'base64');
      const f = frameOf(bytes);
      const now = performance.now();
      if (f >= 0) botGot.set(f, now);
      ws.send(`{"event":"media","streamSid":"${sid}","media":{"payload":"${m.media.payload}"}}`);
      return;
    }
    const m = JSON.parse(s) as { event: string; streamSid?: string };
    if (m.event === 'start') sid = m.streamSid ?? '';
  });
});

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

async function open(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = dgram.createSocket('udp4');
    const b = dgram.createSocket('udp4');
    a.bind(0, '127.0.0.1');
    b.bind(0, '127.0.0.1');
    await Promise.all([once(a, 'listening'), once(b, 'listening')]);
    const onMsg = (msg: Buffer): void => {
      if (msg.length < 16 || (msg[1]! & 0x7f) !== 0) return;
      const now = performance.now();
      const f = frameOf(msg, 12);
      if (f < 0) return;
      const t = sentAt.get(f);
      if (t !== undefined) loop.push(now - t);
    };
    a.on('message', onMsg);
    b.on('message', onMsg);
    sockA.push(a);
    sockB.push(b);
  }
}

async function run(targets: number[], seconds: number): Promise<Record<string, number>> {
  sentAt.clear();
  botGot.clear();
  loop.length = 0;
  inbound.length = 0;
  const payload = Buffer.alloc(160, 0x55);
  const headers = targets.map((_, i) => ({ seq: 0, ts: 0, ssrc: 0x1000 + i }));
  let frame = 1;
  const t0 = performance.now();
  const frames = Math.round(seconds * 50);
  // The calls are spread over 10 phases 2 ms apart within the 20 ms frame, so that together they
  // see every alignment between their clock and the server's media clock.
  const PHASES = 10;
  for (let k = 0; k < frames; k++) {
    for (let ph = 0; ph < PHASES; ph++) {
      const wait = t0 + k * 20 + ph * (20 / PHASES) - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (let i = ph; i < targets.length; i += PHASES) {
        const h = headers[i]!;
        const b = Buffer.alloc(172);
        b[0] = 0x80;
        b[1] = k === 0 ? 0x80 : 0;
        b.writeUInt16BE(h.seq++ & 0xffff, 2);
        b.writeUInt32BE(h.ts >>> 0, 4);
        h.ts += 160;
        b.writeUInt32BE(h.ssrc, 8);
        payload.copy(b, 12);
        const f = frame++;
        for (let j = 0; j < 4; j++) b[12 + j] = 0x10 + ((f >> ((3 - j) * 4)) & 0xf);
        sentAt.set(f, performance.now());
        sockA[i]!.send(b, targets[i]!, '127.0.0.1');
      }
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  for (const [f, got] of botGot) {
    const s = sentAt.get(f);
    if (s !== undefined) inbound.push(got - s);
  }
  return {
    sent: frame - 1,
    received: loop.length,
    loopP50: percentile(loop, 50),
    loopP99: percentile(loop, 99),
    inboundP50: percentile(inbound, 50),
    inboundP99: percentile(inbound, 99),
  };
}

process.on('message', (m: Cmd) => {
  void (async () => {
    if (m.cmd === 'open') {
      await open(m.n ?? 1);
      const a = wss.address();
      process.send?.({
        portsA: sockA.map((s) => s.address().port),
        portsB: sockB.map((s) => s.address().port),
        botUrl: `ws://127.0.0.1:${typeof a === 'string' || a === null ? 0 : a.port}/bot`,
      });
    } else if (m.cmd === 'run') {
      process.send?.(await run(m.targets ?? [], m.seconds ?? 3));
    } else {
      process.exit(0);
    }
  })();
});
