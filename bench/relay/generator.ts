/**
 * Load generator thread: for its calls, two sockets (caller side and callee side) each sending
 * one 172-byte PCMU-sized packet per 20 ms to its leg of the relay, and measuring what comes
 * back through the other leg: count and one-way latency (send time carried in the payload).
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { parentPort } from 'node:worker_threads';

const HIST_BINS = 2000; // 0.05 ms bins up to 100 ms
const BIN_MS = 0.05;

interface Call { a: dgram.Socket; b: dgram.Socket; portA: number; portB: number; seq: number }

const calls: Call[] = [];
let sending = false;
let measuring = false;
let sent = 0;
let received = 0;
const hist = new Uint32Array(HIST_BINS + 1);
const packet = Buffer.alloc(172);
packet[0] = 0x80;
packet[1] = 0;

function onMessage(msg: Buffer): void {
  if (!measuring || msg.length < 20) return;
  const latency = performance.now() - msg.readDoubleLE(12);
  if (latency < 0) return;
  received++;
  const bin = Math.min(HIST_BINS, Math.floor(latency / BIN_MS));
  hist[bin] = hist[bin]! + 1;
}

function sendOne(sock: dgram.Socket, port: number, call: Call): void {
  call.seq = (call.seq + 1) & 0xffff;
  packet.writeUInt16BE(call.seq, 2);
  packet.writeUInt32BE((call.seq * 160) >>> 0, 4);
  packet.writeUInt32BE(port, 8);
  packet.writeDoubleLE(performance.now(), 12);
  sock.send(packet, port, '127.0.0.1');
  if (measuring) sent++;
}

// Calls are spread over four 5 ms slots of the 20 ms packet interval.
let slot = 0;
function tick(): void {
  if (!sending) return;
  for (let i = slot; i < calls.length; i += 4) {
    const c = calls[i]!;
    sendOne(c.a, c.portA, c);
    sendOne(c.b, c.portB, c);
  }
  slot = (slot + 1) & 3;
}
setInterval(tick, 5);

parentPort!.on('message', async (m: { cmd: string; legs?: Array<[number, number]> }) => {
  if (m.cmd === 'legs') {
    for (const [portA, portB] of m.legs!.slice(calls.length)) {
      const a = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      const b = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      a.bind(0, '127.0.0.1');
      b.bind(0, '127.0.0.1');
      await Promise.all([once(a, 'listening'), once(b, 'listening')]);
      a.on('message', onMessage);
      b.on('message', onMessage);
      calls.push({ a, b, portA, portB, seq: 0 });
    }
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'start') {
    sending = true;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'measure') {
    sent = 0; received = 0; hist.fill(0); measuring = true;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'stopSending') {
    sending = false;
    parentPort!.postMessage({ ok: true });
  } else if (m.cmd === 'report') {
    measuring = false;
    parentPort!.postMessage({ sent, received, hist: [...hist] });
  } else if (m.cmd === 'close') {
    for (const c of calls) { c.a.close(); c.b.close(); }
    process.exit(0);
  }
});
