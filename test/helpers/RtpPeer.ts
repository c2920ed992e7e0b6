import dgram from 'node:dgram';
import { once } from 'node:events';

export interface ReceivedRtp {
  pt: number;
  marker: boolean;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
  from: { address: string; port: number };
  /** Arrival time (performance.now()). */
  at: number;
}

/**
 * A minimal RTP peer for tests: a UDP socket on 127.0.0.1 that sends RTP and records what it
 * receives (RTCP on a second socket). Written independently of src/ on purpose.
 */
export class RtpPeer {
  readonly rtp = dgram.createSocket('udp4');
  readonly rtcp = dgram.createSocket('udp4');
  readonly received: ReceivedRtp[] = [];
  readonly rtcpReceived: Buffer[] = [];
  #waiters: Array<{ n: number; resolve: () => void }> = [];
  seq = 1000;
  ts = 50_000;
  readonly ssrc = 0x11223344;

  static async open(): Promise<RtpPeer> {
    const p = new RtpPeer();
    p.rtp.bind(0, '127.0.0.1');
    p.rtcp.bind(0, '127.0.0.1');
    await Promise.all([once(p.rtp, 'listening'), once(p.rtcp, 'listening')]);
    p.rtp.on('message', (msg, rinfo) => {
      if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) {
        p.rtcpReceived.push(msg);
        return;
      }
      if (msg.length < 12) return;
      p.received.push({
        pt: msg[1]! & 0x7f,
        marker: (msg[1]! & 0x80) !== 0,
        seq: msg.readUInt16BE(2),
        ts: msg.readUInt32BE(4),
        ssrc: msg.readUInt32BE(8),
        payload: msg.subarray(12),
        from: { address: rinfo.address, port: rinfo.port },
        at: performance.now(),
      });
      p.#wake();
    });
    p.rtcp.on('message', (msg) => p.rtcpReceived.push(msg));
    return p;
  }

  get port(): number {
    return this.rtp.address().port;
  }

  get rtcpPort(): number {
    return this.rtcp.address().port;
  }

  /** An SDP offer describing this peer. */
  offer(
    codecs: Array<'pcmu' | 'pcma' | 'g722' | 'opus'> = ['pcmu'],
    opts: { telephoneEvent?: boolean; direction?: string } = {},
  ): string {
    const pts: Record<string, [number, string]> = {
      pcmu: [0, 'PCMU/8000'],
      pcma: [8, 'PCMA/8000'],
      g722: [9, 'G722/8000'],
      opus: [111, 'opus/48000/2'],
    };
    const list = codecs.map((c) => pts[c]!);
    const te = opts.telephoneEvent !== false;
    const fmts = [...list.map((l) => l[0]), ...(te ? [101] : [])].join(' ');
    return [
      'v=0',
      'o=peer 1 1 IN IP4 127.0.0.1',
      's=test',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${this.port} RTP/AVP ${fmts}`,
      ...list.map(([pt, map]) => `a=rtpmap:${pt} ${map}`),
      ...(te ? ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16'] : []),
      `a=rtcp:${this.rtcpPort}`,
      'a=ptime:20',
      `a=${opts.direction ?? 'sendrecv'}`,
      '',
    ].join('\r\n');
  }

  /** Sends one RTP packet to `port` on 127.0.0.1; seq/ts advance by one 20 ms frame. */
  send(
    port: number,
    payload: Uint8Array,
    pt = 0,
    opts: { marker?: boolean; samples?: number; ssrc?: number } = {},
  ): void {
    const b = Buffer.alloc(12 + payload.length);
    b[0] = 0x80;
    b[1] = (opts.marker ? 0x80 : 0) | pt;
    b.writeUInt16BE(this.seq & 0xffff, 2);
    b.writeUInt32BE(this.ts >>> 0, 4);
    b.writeUInt32BE(opts.ssrc ?? this.ssrc, 8);
    b.set(payload, 12);
    this.rtp.send(b, port, '127.0.0.1');
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + (opts.samples ?? 160)) >>> 0;
  }

  /**
   * Presses `digit` as RFC 4733 events (written here independently of src/): a start packet
   * with the marker, growing durations every 20 ms, then the end packet three times; all with
   * the event's start timestamp. Resolves after the last packet.
   */
  async sendDtmf(port: number, digit: string, pt = 101, durationMs = 120): Promise<void> {
    const code = '0123456789*#ABCD'.indexOf(digit.toUpperCase());
    if (code < 0) throw new Error(`not a DTMF digit: ${digit}`);
    const ts = this.ts;
    const steps = Math.max(1, Math.round(durationMs / 20));
    const packet = (duration: number, end: boolean, marker: boolean) => {
      const b = Buffer.alloc(16);
      b[0] = 0x80;
      b[1] = (marker ? 0x80 : 0) | pt;
      b.writeUInt16BE(this.seq & 0xffff, 2);
      b.writeUInt32BE(ts >>> 0, 4);
      b.writeUInt32BE(this.ssrc, 8);
      b[12] = code;
      b[13] = (end ? 0x80 : 0) | 10;
      b.writeUInt16BE(duration, 14);
      this.rtp.send(b, port, '127.0.0.1');
      this.seq = (this.seq + 1) & 0xffff;
    };
    for (let i = 1; i <= steps; i++) {
      packet(160 * i, false, i === 1);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 3; i++) packet(160 * steps, true, false);
    this.ts = (this.ts + 160 * (steps + 1)) >>> 0;
  }

  sendRaw(port: number, bytes: Uint8Array): void {
    this.rtp.send(bytes, port, '127.0.0.1');
  }

  /** Resolves once at least `n` RTP packets were received. */
  waitFor(n: number, timeoutMs = 5000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`received ${this.received.length} of ${n} RTP packets`)),
        timeoutMs,
      );
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.received.length >= w.n) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  close(): void {
    this.rtp.close();
    this.rtcp.close();
  }
}
