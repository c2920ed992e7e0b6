import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RtpPeer } from './RtpPeer.ts';

/** μ-law (G.711) of digital silence. */
const ULAW_SILENCE = 0xff;

/** RFC 3389 comfort noise payload type in cnOffer(). */
export const CN_PT = 13;

/**
 * A caller's phone on RtpPeer: one 20 ms PCMU packet every 20 ms, queued audio first, else
 * silence (so the leg stays latched), or with `idle = 'cn'` discontinuous transmission: nothing
 * but an RFC 3389 comfort noise packet every 200 ms. `sent` counts the 20 ms ticks, so a test
 * can place what the server reported on its own send schedule (packets, not wall-clock time).
 */
export class TalkingCaller {
  readonly peer: RtpPeer;
  readonly #queue: Buffer[] = [];
  readonly #silence = Buffer.alloc(160, ULAW_SILENCE);
  #timer: ReturnType<typeof setInterval> | null = null;
  /** 20 ms ticks so far (a packet each, except comfort noise gaps). */
  sent = 0;
  /** What is sent when nothing is queued: μ-law silence, or comfort noise (DTX). */
  idle: 'silence' | 'cn' = 'silence';
  /** Comfort noise level, -dBov (RFC 3389 §3): 40 is -40 dBov. */
  cnLevel = 40;

  private constructor(peer: RtpPeer) {
    this.peer = peer;
  }

  static async open(): Promise<TalkingCaller> {
    return new TalkingCaller(await RtpPeer.open());
  }

  /** Starts sending to the server's RTP port. */
  start(port: number): void {
    this.#timer = setInterval(() => {
      const audio = this.#queue.shift();
      if (audio !== undefined || this.idle === 'silence') this.peer.send(port, audio ?? this.#silence);
      else if (this.sent % 10 === 0) this.peer.send(port, Uint8Array.of(this.cnLevel), CN_PT);
      this.sent++;
    }, 20);
  }

  /** An SDP offer with PCMU, telephone-event and comfort noise (CN/8000). */
  cnOffer(): string {
    return this.peer
      .offer(['pcmu'])
      .replace(/^(m=audio \d+ RTP\/AVP [0-9 ]+)/m, `$1 ${CN_PT}`)
      .replace('a=rtcp:', `a=rtpmap:${CN_PT} CN/8000\r\na=rtcp:`);
  }

  /** Queues μ-law audio; returns the index (in `sent`) of its first packet. */
  say(ulaw: Buffer): number {
    const first = this.sent + this.#queue.length;
    for (let i = 0; i + 160 <= ulaw.length; i += 160) this.#queue.push(ulaw.subarray(i, i + 160));
    return first;
  }

  /** Packets still queued. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Resolves once everything queued has been sent, plus `extraPackets` of silence. */
  async drained(extraPackets = 0): Promise<void> {
    const until = this.sent + this.#queue.length + extraPackets;
    while (this.sent < until) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.peer.close();
  }
}

const execBuffer = promisify(execFile);

/** sox's output as raw bytes. */
async function sox(args: string[]): Promise<Buffer> {
  const { stdout } = await execBuffer('sox', args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** An Asterisk core sound (asterisk-core-sounds-en-wav) as 8 kHz μ-law. */
export function soundUlaw(name: string): Promise<Buffer> {
  return sox([`/usr/share/asterisk/sounds/en/${name}.wav`, '-r', '8000', '-c', '1', '-t', 'ul', '-']);
}

/** `seconds` of white noise at `volume` of full scale (0.002: about -57 dBFS RMS) as 8 kHz μ-law. */
export function noiseUlaw(seconds: number, volume: number): Promise<Buffer> {
  return sox([
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-t',
    'ul',
    '-',
    'synth',
    String(seconds),
    'whitenoise',
    'vol',
    String(volume),
  ]);
}

/** G.711 μ-law expansion of one code (written here from the standard, independently of src/). */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** Level of each 20 ms packet of μ-law audio, dBFS (RMS; -100 for digital silence). */
export function packetLevels(ulaw: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 160 <= ulaw.length; i += 160) {
    let e = 0;
    for (let j = i; j < i + 160; j++) {
      const v = ulawToLinear(ulaw[j]!);
      e += v * v;
    }
    out.push(e > 0 ? 10 * Math.log10(e / 160 / (32768 * 32768)) : -100);
  }
  return out;
}
