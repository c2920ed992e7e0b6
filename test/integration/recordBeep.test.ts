import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MediaFlowEngines } from '../../src/control/MediaFlowEngines.ts';
import { FlowService } from '../../src/flows/FlowService.ts';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';

/**
 * `say` then `record {beep: true}`: the finished prompt hands the endpoint's outbound audio over
 * to the beep, so the caller hears the beep on every run (it used to stay attached until the next
 * tick and the beep was skipped as "something is playing"). Checked on the audio the caller
 * received over real UDP, by Goertzel at the beep's 1 kHz.
 */

const FLOW = `
name: say-then-record
start: prompt
steps:
  prompt:
    type: say
    text: "Please speak after the tone."
    next: record
  record:
    type: record
    path: "beep/{{ session_id }}.wav"
    format: wav
    max_duration_ms: 700
    beep: true
    next: bye
  bye:
    type: hangup
`;

const RUNS = 8;

function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** Share of the signal's energy at `freq` (Goertzel), 0..1, over `x[from, from + n)`. */
function tonePower(x: Float64Array, from: number, n: number, freq: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / 8000);
  let s1 = 0,
    s2 = 0,
    energy = 0;
  for (let i = from; i < from + n; i++) {
    const v = x[i]!;
    const s0 = v + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += v * v;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (n * energy);
}

/** Whether a 1 kHz tone fills some 100 ms of the PCMU audio received (in sequence order). */
function heardBeep(packets: ReceivedRtp[]): boolean {
  const audio = packets.filter((p) => p.pt === 0).sort((a, b) => (((a.seq - b.seq) & 0xffff) << 16) >> 16);
  const x = new Float64Array(audio.length * 160);
  let i = 0;
  for (const p of audio) for (const b of p.payload) x[i++] = ulawToLinear(b);
  let best = 0;
  for (let from = 0; from + 800 <= i; from += 160) best = Math.max(best, tonePower(x, from, 800, 1000));
  return best > 0.9;
}

test(`say then record {beep: true}: the caller hears the beep on ${RUNS} of ${RUNS} runs`, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'msc-beep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ RECORDINGS_DIR: dir, SILENCE_FILL: 'cn' });
  t.after(() => server.close());
  const flows = new FlowService({ engines: MediaFlowEngines.forServer(server), emit: server.events.forFlows() });
  t.after(() => flows.close());
  flows.put('say-then-record', FLOW);

  const heard: boolean[] = [];
  for (let run = 0; run < RUNS; run++) {
    const caller = await RtpPeer.open();
    t.after(() => caller.close());
    const ep = await server.createEndpoint({ remote_sdp: caller.offer(['pcmu']) });
    // The caller's phone sends silence every 20 ms (keeps the endpoint latched and recording).
    const silence = Buffer.alloc(160, 0xff);
    const clock = setInterval(() => caller.send(ep.rtp_port, silence), 20);
    t.after(() => clearInterval(clock));
    const session = flows.start(ep.id, 'say-then-record', {});
    const done = nextEvent(server, 'flow.completed', (e) => e.session_id === session.id, 30_000);
    await done;
    clearInterval(clock);
    heard.push(heardBeep(caller.received));
    await server.deleteEndpoint(ep.id).catch(() => {});
  }
  assert.deepEqual(heard, Array(RUNS).fill(true), `beep heard per run: ${heard.join(' ')}`);
});
