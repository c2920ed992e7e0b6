import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RtpPeer } from './RtpPeer.ts';

/** μ-law (G.711) of digital silence. */
const ULAW_SILENCE = 0xff;

/**
 * A caller's phone on RtpPeer: one 20 ms PCMU packet every 20 ms, queued audio first, else
 * silence (so the leg stays latched). `sent` counts the packets, so a test can place what the
 * server reported on its own send schedule (packets, not wall-clock time).
 */
export class TalkingCaller {
  readonly peer: RtpPeer;
  readonly #queue: Buffer[] = [];
  readonly #silence = Buffer.alloc(160, ULAW_SILENCE);
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Packets sent so far. */
  sent = 0;

  private constructor(peer: RtpPeer) {
    this.peer = peer;
  }

  static async open(): Promise<TalkingCaller> {
    return new TalkingCaller(await RtpPeer.open());
  }

  /** Starts sending to the server's RTP port. */
  start(port: number): void {
    this.#timer = setInterval(() => {
      this.peer.send(port, this.#queue.shift() ?? this.#silence);
      this.sent++;
    }, 20);
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
