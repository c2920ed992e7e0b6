/**
 * A local RTP test phone for `media-server call`: one UDP socket, PCMU plus telephone-event. It
 * sends a 20 ms stream (silence, or RFC 4733 events while a key is pressed) so the server latches
 * it and hears something, and keeps what it receives by RTP timestamp, so the WAV it writes is what
 * a caller would have heard, silences included. Not part of the media plane: a tool for people.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import { PcmuCodec } from '../media/codecs/g711.ts';
import { MARKER, Rfc4733Sender, SEND } from '../media/dtmf/Rfc4733Sender.ts';
import { WAV_HEADER_BYTES, writeWavHeader } from '../media/recording/wav.ts';
import { RtpPacket, serializeRtpHeader, type RtpHeaderInit } from '../media/rtp/RtpPacket.ts';

const PCMU = 0;
const TELEPHONE_EVENT = 101;
const SAMPLES = 160; // 20 ms at 8 kHz
/** What one call keeps at most: an hour at 8 kHz. */
const MAX_SAMPLES = 8000 * 3600;

export class TestPhone {
  readonly #socket: dgram.Socket;
  readonly #ip: string;
  readonly #codec = new PcmuCodec();
  readonly #dtmf = new Rfc4733Sender({ clockRate: 8000, ptimeMs: 20 });
  readonly #header: RtpHeaderInit = {
    pt: PCMU,
    seq: Math.floor(Math.random() * 0xffff),
    ts: Math.floor(Math.random() * 0xffffffff),
    ssrc: (Math.random() * 0xffffffff) >>> 0,
  };
  readonly #out = new Uint8Array(12 + SAMPLES);
  readonly #silence = new Uint8Array(SAMPLES).fill(0xff);
  #remote: { ip: string; port: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #pressTs = 0;
  // what we heard
  #heard = new Int16Array(8000 * 60);
  #heardLength = 0;
  #firstTs: number | null = null;
  readonly #decoded = new Int16Array(SAMPLES * 8);
  readonly #view = new RtpPacket();
  packetsReceived = 0;

  private constructor(socket: dgram.Socket, ip: string) {
    this.#socket = socket;
    this.#ip = ip;
    socket.on('message', (msg) => this.#receive(msg));
  }

  static async open(ip = '127.0.0.1'): Promise<TestPhone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, ip, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new TestPhone(socket, ip);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** Our SDP offer: PCMU and telephone-event/8000, RTCP on the same port (rtcp-mux). */
  offer(): string {
    return [
      'v=0',
      `o=test-phone 1 1 IN IP4 ${this.#ip}`,
      's=media-server call',
      `c=IN IP4 ${this.#ip}`,
      't=0 0',
      `m=audio ${this.port} RTP/AVP ${PCMU} ${TELEPHONE_EVENT}`,
      `a=rtpmap:${PCMU} PCMU/8000`,
      `a=rtpmap:${TELEPHONE_EVENT} telephone-event/8000`,
      `a=fmtp:${TELEPHONE_EVENT} 0-16`,
      'a=rtcp-mux',
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n');
  }

  /** Starts sending to the server's port: silence every 20 ms, key presses as RFC 4733 events. */
  start(ip: string, port: number): void {
    this.#remote = { ip, port };
    let due = performance.now();
    const tick = () => {
      // catch up on a late timer rather than drift: the server sees a steady 50 packets/s
      while (performance.now() >= due) {
        this.#sendFrame();
        due += 20;
      }
      this.#timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  }

  /** Queues key presses (0-9, *, #, A-D); throws on anything else. */
  press(digits: string, durationMs = 120): void {
    this.#dtmf.send(digits, durationMs);
  }

  get dtmfBusy(): boolean {
    return this.#dtmf.busy;
  }

  /** Seconds of audio heard so far (the timeline from the first packet). */
  get heardSeconds(): number {
    return this.#heardLength / 8000;
  }

  /** Writes what was heard as 8 kHz mono 16-bit WAV. */
  writeWav(file: string): void {
    const data = Buffer.from(this.#heard.buffer, this.#heard.byteOffset, this.#heardLength * 2);
    const header = new Uint8Array(WAV_HEADER_BYTES);
    writeWavHeader(header, 8000, 1, data.length);
    fs.writeFileSync(file, Buffer.concat([header, data]));
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#socket.close();
  }

  #sendFrame(): void {
    if (!this.#remote) return;
    const h = this.#header;
    let length: number;
    const flags = this.#dtmf.next(this.#out, 12);
    if (flags & SEND) {
      if (flags & MARKER) this.#pressTs = h.ts;
      h.pt = TELEPHONE_EVENT;
      h.marker = (flags & MARKER) !== 0;
      const ts = h.ts;
      h.ts = (this.#pressTs + this.#dtmf.timestampOffset) >>> 0;
      serializeRtpHeader(this.#out, 0, h);
      h.ts = ts;
      length = 12 + 4;
    } else {
      h.pt = PCMU;
      h.marker = false;
      serializeRtpHeader(this.#out, 0, h);
      this.#out.set(this.#silence, 12);
      length = 12 + SAMPLES;
    }
    this.#socket.send(this.#out.subarray(0, length), this.#remote.port, this.#remote.ip);
    h.seq = (h.seq + 1) & 0xffff;
    h.ts = (h.ts + SAMPLES) >>> 0;
  }

  #receive(msg: Buffer): void {
    if (RtpPacket.validate(msg) !== 0) return; // RTCP (rtcp-mux) or noise
    const packet = this.#view.wrap(msg, 0, msg.length);
    if (packet.payloadType !== PCMU) return;
    this.packetsReceived++;
    if (this.#firstTs === null) this.#firstTs = packet.timestamp;
    const at = (packet.timestamp - this.#firstTs) >>> 0;
    const n = this.#codec.decode(packet.payload(), this.#decoded);
    if (at + n > MAX_SAMPLES) return;
    if (at + n > this.#heard.length) {
      const bigger = new Int16Array(Math.min(MAX_SAMPLES, Math.max(at + n, this.#heard.length * 2)));
      bigger.set(this.#heard.subarray(0, this.#heardLength));
      this.#heard = bigger;
    }
    this.#heard.set(this.#decoded.subarray(0, n), at);
    this.#heardLength = Math.max(this.#heardLength, at + n);
  }
}
