import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerEvent } from '../../src/control/types.ts';
import { run } from '../helpers/proc.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/audio.ts';
import { soxTone } from '../media/dtmf/audioTools.ts';
import { needs } from '../helpers/peers.ts';

/**
 * In-band DTMF at a loaded start: many PCMU callers without telephone-event key digits at once
 * on a fresh server while other processes keep the CPUs busy. Detection runs on the received
 * packets in sequence order, so a cold, late media clock must not cost a digit.
 */

const STREAMS = 18;
const DIGITS = '1234567890';
const ROW: Record<string, number> = { 1: 697, 2: 697, 3: 697, 4: 770, 5: 770, 6: 770, 7: 852, 8: 852, 9: 852, 0: 941 };
const COL: Record<string, number> = {
  1: 1209,
  4: 1209,
  7: 1209,
  2: 1336,
  5: 1336,
  8: 1336,
  0: 1336,
  3: 1477,
  6: 1477,
  9: 1477,
};
/** Busy-loop processes beside the server: a shared machine under load. */
const LOAD_PROCESSES = 4;

/** μ-law of `digits` made by sox: 50 ms on, 150 ms off, -10 dBm0 per tone, 100 ms lead. */
async function ulawDigits(dir: string): Promise<Buffer> {
  const parts: Int16Array[] = [];
  for (const [i, d] of [...DIGITS].entries()) {
    parts.push(
      await soxTone(dir, `d${i}`, {
        lowHz: ROW[d]!,
        highHz: COL[d]!,
        lowDbm0: -10,
        highDbm0: -10,
        durationMs: 50,
        leadMs: i === 0 ? 100 : 0,
        trailMs: 150,
      }),
    );
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const pcm = Buffer.alloc(total * 2);
  let off = 0;
  for (const p of parts) for (const s of p) off = pcm.writeInt16LE(s, off);
  const raw = join(dir, 'digits.raw');
  const ulaw = join(dir, 'digits.ul');
  writeFileSync(raw, pcm);
  const r = await run('sox', [
    '-t',
    'raw',
    '-r',
    '8000',
    '-e',
    'signed-integer',
    '-b',
    '16',
    '-c',
    '1',
    raw,
    '-t',
    'raw',
    '-e',
    'u-law',
    '-b',
    '8',
    ulaw,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const bytes = readFileSync(ulaw);
  const out = Buffer.alloc(Math.ceil(bytes.length / 160) * 160, 0xff);
  bytes.copy(out);
  return out;
}

test(
  `in-band DTMF: ${STREAMS} PCMU callers keying ${DIGITS} at once on a fresh, loaded server lose no digit`,
  needs('sox'),
  async (t) => {
    const ulaw = await ulawDigits(tempDir(t, 'dtmf-load-'));

    const load: ChildProcess[] = [];
    t.after(() => {
      for (const c of load) c.kill('SIGKILL');
    });
    for (let i = 0; i < LOAD_PROCESSES; i++) load.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));

    // Fresh: the server (and its media worker) starts here, nothing decoded or detected before.
    const server = await startServer();
    t.after(() => server.close());
    const got = new Map<string, string>();
    let total = 0;
    let wake: (() => void) | null = null;
    server.events.subscribe((e: ServerEvent) => {
      if (e.type !== 'endpoint.dtmf') return;
      const id = String(e.endpoint_id);
      got.set(id, (got.get(id) ?? '') + String(e.digit));
      total++;
      wake?.();
    });
    const peers: RtpPeer[] = [];
    const ids: string[] = [];
    const ports: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const peer = await RtpPeer.open();
      t.after(() => peer.close());
      // read from the event stream, as a B2BUA does: opted in (DTMF_INBAND=auto listens on demand)
      const ep = await server.createEndpoint({
        remote_sdp: peer.offer(['pcmu'], { telephoneEvent: false }),
        dtmf: { inband: true },
      });
      peers.push(peer);
      ids.push(ep.id);
      ports.push(ep.rtp_port);
      got.set(ep.id, '');
    }

    // All streams at once, paced on the absolute timeline (as a phone's clock would be).
    const frames = ulaw.length / 160;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      let sent = 0;
      const timer = setInterval(() => {
        const due = Math.min(frames, Math.floor((performance.now() - start) / 20) + 1);
        for (; sent < due; sent++) {
          const payload = ulaw.subarray(sent * 160, sent * 160 + 160);
          for (let s = 0; s < STREAMS; s++) peers[s]!.send(ports[s]!, payload, 0, { marker: sent === 0 });
        }
        if (sent >= frames) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    // Every packet is in the worker (counted), then every digit is reported or none will be: a
    // digit is reported within a frame or two of its tone's end, allow the clock's worst lateness.
    for (let i = 0; i < 500; i++) {
      const all = await Promise.all(ids.map((id) => server.getEndpoint(id)));
      if (all.every((e) => e.stats.packets_received >= frames)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const deadline = performance.now() + 3000;
    while (total < STREAMS * DIGITS.length && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - performance.now());
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const missed = ids.filter((id) => got.get(id) !== DIGITS).map((id) => got.get(id));
    assert.deepEqual(missed, [], `${missed.length} of ${STREAMS} streams detected something else than ${DIGITS}`);
  },
);
