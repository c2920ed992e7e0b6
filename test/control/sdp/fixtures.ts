import { readFileSync, readdirSync } from 'node:fs';
import type { LocalMediaOptions } from '../../../src/control/sdp/index.ts';

const DIR = new URL('../../fixtures/sdp/', import.meta.url);

export function fixture(name: string): string {
  return readFileSync(new URL(name, DIR), 'utf8');
}

export function fixtureNames(): string[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.sdp'))
    .sort();
}

/** Our side as a media server would give it. */
export function local(over: Partial<LocalMediaOptions> = {}): LocalMediaOptions {
  return {
    ip: '127.0.0.1',
    rtpPort: 10000,
    rtcpPort: 10001,
    codecs: ['pcmu', 'pcma', 'g722', 'opus', 'telephone-event'],
    sessionId: '7000000001',
    sessionVersion: 1,
    ...over,
  };
}

/** The `a=`/`m=` lines of the m= section at `index`, as written (for asserting on our output). */
export function mediaSection(sdp: string, index: number): string[] {
  const sections = sdp.split(/\r\n(?=m=)/);
  return (sections[index + 1] ?? '').split('\r\n').filter((l) => l !== '');
}
