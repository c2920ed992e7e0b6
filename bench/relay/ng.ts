/**
 * Minimal client of rtpengine's ng control protocol (bencode over UDP, "<cookie> <dict>"), enough
 * for the relay benchmark: ping, offer, answer, delete.
 */
import dgram from 'node:dgram';

type BValue = string | number | BValue[] | { [k: string]: BValue };

export function bencode(v: BValue): string {
  if (typeof v === 'number') return `i${Math.trunc(v)}e`;
  if (typeof v === 'string') return `${Buffer.byteLength(v)}:${v}`;
  if (Array.isArray(v)) return `l${v.map(bencode).join('')}e`;
  const keys = Object.keys(v).sort();
  return `d${keys.map((k) => bencode(k) + bencode(v[k]!)).join('')}e`;
}

export function bdecode(buf: Buffer): BValue {
  let i = 0;
  const next = (): BValue => {
    const c = buf[i]!;
    if (c === 0x69) {
      // i
      const end = buf.indexOf(0x65, i);
      const n = Number(buf.toString('latin1', i + 1, end));
      i = end + 1;
      return n;
    }
    if (c === 0x6c) {
      // l
      i++;
      const out: BValue[] = [];
      while (buf[i] !== 0x65) out.push(next());
      i++;
      return out;
    }
    if (c === 0x64) {
      // d
      i++;
      const out: Record<string, BValue> = {};
      while (buf[i] !== 0x65) {
        const k = next() as string;
        out[k] = next();
      }
      i++;
      return out;
    }
    const colon = buf.indexOf(0x3a, i);
    const len = Number(buf.toString('latin1', i, colon));
    const s = buf.toString('utf8', colon + 1, colon + 1 + len);
    i = colon + 1 + len;
    return s;
  };
  return next();
}

export class NgClient {
  readonly #sock = dgram.createSocket('udp4');
  readonly #pending = new Map<string, (v: Record<string, BValue>) => void>();
  readonly #port: number;
  #cookie = 0;
  constructor(port: number) {
    this.#port = port;
    this.#sock.on('message', (msg) => {
      const sp = msg.indexOf(0x20);
      const cookie = msg.toString('latin1', 0, sp);
      const r = this.#pending.get(cookie);
      if (!r) return;
      this.#pending.delete(cookie);
      r(bdecode(msg.subarray(sp + 1)) as Record<string, BValue>);
    });
  }
  request(dict: Record<string, BValue>, timeoutMs = 2000): Promise<Record<string, BValue>> {
    const cookie = `c${++this.#cookie}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cookie);
        reject(new Error(`ng ${String(dict.command)} timed out`));
      }, timeoutMs);
      this.#pending.set(cookie, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.#sock.send(`${cookie} ${bencode(dict)}`, this.#port, '127.0.0.1');
    });
  }
  close(): void {
    this.#sock.close();
  }
}
