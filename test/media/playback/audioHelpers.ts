import { execFileSync } from 'node:child_process';

/** Goertzel power of `freq` in `pcm`, normalised to the signal's total power (0..1). */
export function toneShare(pcm: Int16Array, rate: number, freq: number, from = 0, to = pcm.length): number {
  const n = to - from;
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = from; i < to; i++) {
    const x = pcm[i] as number;
    energy += x * x;
    const s = x + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (n * energy);
}

/** Frequency estimated from zero crossings (good for one pure tone). */
export function zeroCrossingHz(pcm: Int16Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) {
    if (((pcm[i - 1] as number) < 0) !== ((pcm[i] as number) < 0)) crossings++;
  }
  return (crossings / 2) * (rate / pcm.length);
}

export function rms(pcm: Int16Array, from = 0, to = pcm.length): number {
  let e = 0;
  for (let i = from; i < to; i++) e += (pcm[i] as number) ** 2;
  return Math.sqrt(e / Math.max(1, to - from));
}

/** Run sox/ffmpeg with an argument list (tests build fixtures with the real tools). */
export function tool(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
