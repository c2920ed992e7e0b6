/**
 * The audio every bench:relay call loops, as PCMU bytes: `speech` plays real recordings
 * (Asterisk's prompts) followed by as long a silence (PCMU 0xff); `silence` is silence only.
 * Shared by the JavaScript generator (bench/relay/generator.ts) and the C one (bench/relay/loadgen.c
 * reads these bytes from a file), so both send the same audio.
 */
import { readFileSync } from 'node:fs';
import { linearToUlaw } from '../../src/media/codecs/g711.ts';

const SPEECH = [
  '/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav',
  '/usr/share/asterisk/sounds/en/agent-newlocation.wav',
  '/usr/share/asterisk/sounds/en/activated.wav',
];

/** 8 kHz 16-bit mono WAV → PCMU bytes; null when the file is not there. */
function wavToUlaw(path: string): Uint8Array | null {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return null;
  }
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = Math.floor(Math.min(size, buf.length - off - 8) / 2);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = linearToUlaw(buf.readInt16LE(off + 8 + 2 * i));
      return out;
    }
    off += 8 + size + (size & 1);
  }
  return null;
}

/** Speech then the same length of silence, a whole number of 160-byte frames; or silence only. */
export function pattern(kind: string): Uint8Array {
  const parts = kind === 'silence' ? [] : SPEECH.map(wavToUlaw).filter((p): p is Uint8Array => p !== null);
  const speech = parts.reduce((n, p) => n + p.length, 0);
  const total = Math.max(160 * 50, Math.ceil((2 * speech) / 160) * 160);
  const out = new Uint8Array(total).fill(0xff);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
