/**
 * Load generator thread: for its calls, two sockets (caller side and callee side) each sending
 * one PCMU packet (12-byte header, 160-byte payload) per 20 ms to its leg of the relay, and
 * measuring what comes back through the other leg: count and one-way latency (send time carried
 * in the first 32 payload bytes, two bits per byte in bytes that PCMU decodes to |x| <= 24, so
 * that silence stays silence to a server listening for in-band DTMF).
 *
 * Payload: `speech` (default) plays a real recording (Asterisk's prompts, PCMU) alternating with
 * as long a silence, each call from its own offset, like a conversation where each side talks
 * half of the time; `silence` sends PCMU silence. (What the audio is matters to a server that
 * listens for in-band DTMF.) The same packets and measurement in C: bench/relay/loadgen.c, which
 * bench:relay uses when it builds.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { pattern } from './pattern.ts';

const HIST_BINS = 2000; // 0.05 ms bins up to 100 ms
const BIN_MS = 0.05;
const audio = pattern((workerData as { payload?: string } | undefined)?.payload ?? 'speech');

interface Leg {
  sock: dgram.Socket;
  port: number;
  seq: number;
  pos: number;
  packet: Buffer;
}

const legs: Leg[] = [];
let sending = false;
let measuring = false;
let sent = 0;
let received = 0;
const hist = new Uint32Array(HIST_BINS + 1);

const stamp = new Float64Array(1);
const stampBytes = new Uint8Array(stamp.buffer);
const STAMP_AT = 12;
const STAMP_LEN = 32;

function writeStamp(packet: Buffer, t: number): void {
  stamp[0] = t;
  for (let i = 0; i < 8; i++) {
    const b = stampBytes[i]!;
    for (let k = 0; k < 4; k++) packet[STAMP_AT + i * 4 + k] = 0xfc | ((b >> (2 * k)) & 3);
  }
}

function readStamp(msg: Buffer): number {
  for (let i = 0; i < 8; i++) {
    let b = 0;
    for (let k = 0; k < 4; k++) b |= (msg[STAMP_AT + i * 4 + k]! & 3) << (2 * k);
    stampBytes[i] = b;
  }
  return stamp[0]!;
}

function onMessage(msg: Buffer): void {
  if (!measuring || msg.length < STAMP_AT + STAMP_LEN) return;
  const latency = performance.now() - readStamp(msg);
  if (latency < 0) return;
  received++;
  const bin = Math.min(HIST_BINS, Math.floor(latency / BIN_MS));
  hist[bin] = hist[bin]! + 1;
}

// dgram.send() reads the buffer on a later tick: each leg has its own packet buffer.
function sendOne(leg: Leg): void {
  const packet = leg.packet;
  leg.seq = (leg.seq + 1) & 0xffff;
  packet.set(audio.subarray(leg.pos, leg.pos + 160), 12);
  leg.pos += 160;
  if (leg.pos + 160 > audio.length) leg.pos = 0;
  packet.writeUInt16BE(leg.seq, 2);
  packet.writeUInt32BE((leg.seq * 160) >>> 0, 4);
  writeStamp(packet, performance.now());
  leg.sock.send(packet, leg.port, '127.0.0.1');
  if (measuring) sent++;
}

// Legs are spread over four 5 ms slots of the 20 ms packet interval.
let slot = 0;
function tick(): void {
  if (!sending) return;
  for (let i = slot; i < legs.length; i += 4) sendOne(legs[i]!);
  slot = (slot + 1) & 3;
}
setInterval(tick, 5);

async function openLeg(port: number, ssrc: number): Promise<Leg> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  sock.on('message', onMessage);
  const packet = Buffer.alloc(172);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt32BE(ssrc >>> 0, 8);
  const frames = audio.length / 160;
  return { sock, port, seq: (ssrc * 7) & 0xffff, pos: ((ssrc * 7919) % frames) * 160, packet };
}

parentPort!.on('message', async (m: { cmd: string; legs?: Array<[number, number]> }) => {
  if (m.cmd === 'legs') {
    for (const [portA, portB] of m.legs!.slice(legs.length / 2)) {
      legs.push(await openLeg(portA, legs.length + 1));
      legs.push(await openLeg(portB, legs.length + 1));
    }
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'start') {
    sending = true;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'measure') {
    sent = 0;
    received = 0;
    hist.fill(0);
    measuring = true;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'stopSending') {
    sending = false;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'report') {
    measuring = false;
    parentPort!.postMessage({ sent, received, hist: [...hist] });
  } else if (m.cmd === 'close') {
    for (const l of legs) l.sock.close();
    process.exit(0);
  }
});
