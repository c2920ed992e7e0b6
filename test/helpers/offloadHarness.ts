import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { loadNativeUdp, type NativeUdpAddon, type NativeUdpArena } from '../../src/common/nativeUdp.ts';
import { seqAdd, seqDiff, tsAdd } from '../../src/common/seq.ts';
import {
  codecKey,
  L,
  LOG_INTS,
  R,
  ROUTE_INTS,
  S,
  SENDER_BYTES,
  SENDER_FLOAT_OFFSET,
  SENDER_FLOATS,
  SENDER_INTS,
  SF,
} from '../../src/media/transport/udp/offloadLayout.ts';

export interface LogRecord {
  socket: number;
  seq: number;
  ts: number;
  ssrc: number;
  payloadBytes: number;
  arrivalMs: number;
}

/**
 * The raw addon (native/udp_batch.c) of this thread, driven directly by a test: one init(), one
 * onBatch that drains the relay log first (as NativeUdpTransport does) and records what reached
 * JavaScript; with `relayThreads` the sockets that relay go to that many relay threads. Also a
 * model of RtpSender's rewrite to check the relayed bytes against, and a relayed leg to drive.
 */
export function offloadHarness(relayThreads = 0) {
  const self = {
    /** While true, onBatch leaves the log alone (a test reads it at a chosen moment). */
    holdLog: false,
    /** onBatch calls with no datagram: the addon asking JS to drain a filling log. */
    emptyBatches: 0,
  };
  const LOOPBACK = 0x7f000001;
  const PCMU = codecKey({ name: 'PCMU', clockRate: 8000, channels: 1 });
  const PCMA = codecKey({ name: 'PCMA', clockRate: 8000, channels: 1 });

  let state: { addon: NativeUdpAddon; arena: NativeUdpArena } | undefined;
  /** Datagrams delivered to JavaScript, per socket id. */
  const toJs = new Map<number, Buffer[]>();
  /** Every datagram as JavaScript learnt of it, in that order: relayed (the log) or delivered. */
  const trail: Array<{ socket: number; seq: number; to: 'log' | 'js' }> = [];
  const logged: LogRecord[] = [];

  function takeLog(): void {
    const arena = state!.arena;
    if (self.holdLog) return;
    // The relay threads' records join the log first (takeLog), as NativeUdpTransport does.
    let left = relayThreads > 0 ? state!.addon.takeLog(-1) : 0;
    for (;;) {
      const n = arena.logCount[0]!;
      for (let i = 0; i < n; i++) {
        const r = arena.logInts.subarray(i * LOG_INTS, (i + 1) * LOG_INTS);
        logged.push({
          socket: r[L.SOCKET]!,
          seq: r[L.SEQ]!,
          ts: r[L.TS]! >>> 0,
          ssrc: r[L.SSRC]! >>> 0,
          payloadBytes: r[L.PAYLOAD_BYTES]!,
          arrivalMs: arena.logTimes[i]!,
        });
        trail.push({ socket: r[L.SOCKET]!, seq: r[L.SEQ]!, to: 'log' });
      }
      arena.logCount[0] = 0;
      if (left === 0) return;
      left = state!.addon.takeLog(-1);
    }
  }

  function onBatch(count: number): void {
    if (count === 0) self.emptyBatches++;
    takeLog();
    const { arena } = state!;
    for (let i = 0; i < count; i++) {
      const m = i * arena.metaInts;
      const id = arena.meta[m]!;
      const data = Buffer.from(new Uint8Array(arena.rx, i * arena.slotBytes, arena.meta[m + 1]!));
      let list = toJs.get(id);
      if (!list) toJs.set(id, (list = []));
      trail.push({ socket: id, seq: data.length >= 4 ? data.readUInt16BE(2) : -1, to: 'js' });
      list.push(data);
    }
  }

  function ready(): { addon: NativeUdpAddon; arena: NativeUdpArena } {
    if (state) return state;
    const addon = loadNativeUdp();
    assert.ok(addon, 'the addon is built wherever the toolchain is');
    state = { addon, arena: addon.init(onBatch) };
    if (relayThreads > 0) assert.equal(addon.relayThreads(relayThreads), relayThreads);
    return state;
  }

  async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  function peer(): Promise<dgram.Socket> {
    const s = dgram.createSocket('udp4');
    return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
  }

  function rtp(o: {
    pt: number;
    seq: number;
    ts: number;
    ssrc: number;
    b0?: number;
    marker?: boolean;
    payload?: number;
  }) {
    const b = Buffer.alloc(12 + (o.payload ?? 160), 0xd5);
    b[0] = o.b0 ?? 0x80;
    b[1] = (o.marker ? 0x80 : 0) | o.pt;
    b.writeUInt16BE(o.seq & 0xffff, 2);
    b.writeUInt32BE(o.ts >>> 0, 4);
    b.writeUInt32BE(o.ssrc >>> 0, 8);
    return b;
  }

  /** The SENDER block as a SharedArrayBuffer, the words and the float64 words over it. */
  function senderBlock(): { sab: SharedArrayBuffer; s: Int32Array; f: Float64Array } {
    const sab = new SharedArrayBuffer(SENDER_BYTES);
    return {
      sab,
      s: new Int32Array(sab, 0, SENDER_INTS),
      f: new Float64Array(sab, SENDER_FLOAT_OFFSET, SENDER_FLOATS),
    };
  }

  /**
   * What RtpSender.rewrite() after BridgeLink's payload type mapping makes of a packet, written
   * here from the spec with the project's seq helpers: the expected bytes and block state.
   */
  class Expected {
    seq: number;
    ts: number;
    source: number;
    seqOffset: number;
    tsOffset: number;
    marker: boolean;
    lastSendMs: number;
    packets: number;
    octets: number;
    constructor(
      s: Int32Array,
      f: Float64Array,
      readonly ssrc = s[S.SSRC]! >>> 0,
      readonly ptOut = s[S.PT_OUT]!,
      readonly clockRate = s[S.CLOCK_RATE]!,
      readonly frame = s[S.FRAME_SAMPLES]!,
    ) {
      this.seq = s[S.SEQ]!;
      this.ts = s[S.TS]! >>> 0;
      this.source = s[S.SOURCE]!;
      this.seqOffset = s[S.SEQ_OFFSET]!;
      this.tsOffset = s[S.TS_OFFSET]!;
      this.marker = s[S.MARKER] !== 0;
      this.lastSendMs = f[SF.LAST_SEND_MS]!;
      this.packets = s[S.PACKETS]! >>> 0;
      this.octets = f[SF.OCTETS]!;
    }

    advance(now: number): number {
      if (this.lastSendMs < 0) return this.frame;
      const e = Math.round(((now - this.lastSendMs) * this.clockRate) / 1000 / this.frame) * this.frame;
      // biome-ignore lint/complexity/useMathMinMax: as RtpSender (Math.max would pass a NaN through)
      return e > this.frame ? e : this.frame;
    }

    rewrite(input: Buffer, source: number, now: number): Buffer {
      const b = Buffer.from(input);
      b[1] = (b[1]! & 0x80) | this.ptOut;
      const seqIn = b.readUInt16BE(2);
      const tsIn = b.readUInt32BE(4);
      if (source !== this.source) {
        this.source = source;
        this.seqOffset = seqDiff(seqAdd(this.seq, 1), seqIn);
        this.tsOffset = (tsAdd(this.ts, this.advance(now)) - tsIn) | 0;
        this.marker = true;
      }
      const seq = seqAdd(seqIn, this.seqOffset);
      const ts = tsAdd(tsIn, this.tsOffset);
      if (seqDiff(seq, this.seq) > 0) {
        this.seq = seq;
        this.ts = ts;
      }
      if (this.marker) {
        b[1] = b[1]! | 0x80;
        this.marker = false;
      }
      b.writeUInt16BE(seq, 2);
      b.writeUInt32BE(ts, 4);
      b.writeUInt32BE(this.ssrc, 8);
      this.lastSendMs = now;
      this.packets = (this.packets + 1) >>> 0;
      this.octets += b.length - 12;
      return b;
    }

    assertBlock(s: Int32Array, f: Float64Array): void {
      assert.deepEqual(
        {
          seq: s[S.SEQ],
          ts: s[S.TS]! >>> 0,
          source: s[S.SOURCE],
          seqOffset: s[S.SEQ_OFFSET],
          tsOffset: s[S.TS_OFFSET],
          marker: s[S.MARKER] !== 0,
          packets: s[S.PACKETS]! >>> 0,
          lastSendMs: f[SF.LAST_SEND_MS],
          octets: f[SF.OCTETS],
          lock: s[S.LOCK],
        },
        {
          seq: this.seq,
          ts: this.ts,
          source: this.source,
          seqOffset: this.seqOffset,
          tsOffset: this.tsOffset,
          marker: this.marker,
          packets: this.packets,
          lastSendMs: this.lastSendMs,
          octets: this.octets,
          lock: 0,
        },
      );
    }
  }

  const SSRC_IN = 0xdeadbeef;

  /**
   * A leg: peer A sends to `src` (an addon socket), whose route relays into the SENDER block of
   * `dst` (another addon socket) towards peer B.
   */
  async function relay(t: { after(fn: () => void): void }) {
    const { addon } = ready();
    takeLog();
    logged.length = 0;
    const a = await peer();
    const b = await peer();
    const src = addon.open(4);
    const srcPort = addon.bind(src, '127.0.0.1', 0);
    const dst = addon.open(4);
    addon.bind(dst, '127.0.0.1', 0);
    const atB: Buffer[] = [];
    b.on('message', (m) => atB.push(m));
    const { sab, s, f } = senderBlock();
    s[S.RELAY_OK] = 1;
    s[S.FD] = addon.fd(dst);
    s[S.DST_IP] = LOOPBACK;
    s[S.DST_PORT] = b.address().port;
    s[S.SSRC] = 0x11223344;
    s[S.SEQ] = 65530; // wraps within the tests
    s[S.TS] = 0xfffff000 | 0;
    s[S.SOURCE] = -1;
    s[S.MARKER] = 1;
    s[S.CLOCK_RATE] = 8000;
    s[S.FRAME_SAMPLES] = 160;
    s[S.PT_OUT] = 0;
    s[S.CODEC_KEY] = PCMU;
    f[SF.LAST_SEND_MS] = -1;
    const route = new Int32Array(ROUTE_INTS);
    route[R.ARMED] = 1;
    route[R.FROM_IP] = LOOPBACK;
    route[R.FROM_PORT] = a.address().port;
    route[R.PT_IN] = 0;
    route[R.SSRC_IN] = SSRC_IN | 0;
    route[R.SOURCE_TOKEN] = 12345;
    route[R.CODEC_KEY] = PCMU;
    addon.route(src, route, s);
    toJs.set(src, []);
    t.after(() => {
      a.close();
      b.close();
      addon.close(src);
      addon.close(dst);
    });
    const send = (pkt: Buffer, from = a) => from.send(pkt, srcPort, '127.0.0.1');
    const jsOf = () => toJs.get(src)!;
    return { addon, a, b, src, srcPort, dst, sab, s, f, route, atB, send, jsOf };
  }

  return Object.assign(self, {
    LOOPBACK,
    PCMU,
    PCMA,
    SSRC_IN,
    toJs,
    trail,
    logged,
    takeLog,
    ready,
    until,
    peer,
    rtp,
    senderBlock,
    Expected,
    relay,
  });
}
