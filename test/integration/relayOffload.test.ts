import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { loadNativeUdp } from '../../src/common/nativeUdp.ts';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { tempDir } from '../helpers/audio.ts';
import { needs } from '../helpers/peers.ts';
import { RtpPeer, type ReceivedRtp } from '../helpers/RtpPeer.ts';
import { startServer } from '../helpers/server.ts';

/**
 * The relay offload through a real MediaServer on native I/O: a same-codec bridge's packets are
 * relayed inside the addon once the route is armed, and the peer on the other side cannot tell:
 * one SSRC, consecutive sequence numbers and 20 ms timestamps across the switches between the
 * addon and JavaScript (telephone-events, a recording that listens), the endpoints' counters and
 * receive statistics complete. On one worker and across two, with the native relay thread
 * (RELAY_THREADS, by default one per CPU: a leg that relays is read by one) and without (the workers' loops).
 */

const native = needs('g++', 'make', 'python3');

async function peer(t: TestContext): Promise<RtpPeer> {
  const p = await RtpPeer.open();
  t.after(() => p.close());
  return p;
}

async function offloaded(server: MediaServer): Promise<number> {
  return (await server.workerMetrics()).reduce((s, w) => s + w.packetsOffloaded, 0);
}

async function byThread(server: MediaServer): Promise<number> {
  return (await server.workerMetrics()).reduce((s, w) => s + w.packetsOffloadedByThread, 0);
}

/** Sends `n` PCMU frames every `gapMs` (0: a burst; 20 would be a real call's pace). */
async function talk(p: RtpPeer, port: number, n: number, gapMs = 5): Promise<void> {
  const payload = new Uint8Array(160).fill(0x55);
  for (let i = 0; i < n; i++) {
    p.send(port, payload);
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
}

/** What the far peer must see of one relayed stream: one SSRC, no sequence gap, audio 160 samples apart. */
function assertContinuous(got: ReceivedRtp[]): void {
  assert.ok(got.length > 0);
  const ssrc = got[0]!.ssrc;
  for (let i = 1; i < got.length; i++) {
    const prev = got[i - 1]!;
    const cur = got[i]!;
    assert.equal(cur.ssrc, ssrc, `packet ${i}: SSRC`);
    assert.equal(cur.seq, (prev.seq + 1) & 0xffff, `packet ${i}: sequence follows ${prev.seq}`);
    if (cur.pt === 0 && prev.pt === 0)
      assert.equal(cur.ts, (prev.ts + 160) >>> 0, `packet ${i}: timestamp 20 ms after the previous audio`);
    if (cur.pt === 0) assert.equal(cur.marker, false, `packet ${i}: no marker inside the stream`);
  }
}

async function bridged(
  t: TestContext,
  workers: number,
  thread = true,
): Promise<{ server: MediaServer; a: RtpPeer; b: RtpPeer; aPort: number; bPort: number; aId: string; bId: string }> {
  const server = await startServer({
    MEDIA_WORKERS: String(workers),
    UDP_IO: 'native',
    RELAY_THREADS: thread ? '2' : '0',
    RECORDINGS_DIR: tempDir(t, 'msc-offload-'),
  });
  t.after(() => server.close());
  const a = await peer(t);
  const b = await peer(t);
  // Two legs on different workers when there are two: affinity keys that map there.
  const keyOn = (w: number): string => {
    for (let k = 0; ; k++) if (server.workerForAffinity(`k${k}`) === w) return `k${k}`;
  };
  const epA = await server.createEndpoint({ remote_sdp: a.offer(['pcmu']), affinity: keyOn(0) });
  const epB = await server.createEndpoint({ remote_sdp: b.offer(['pcmu']), affinity: keyOn(workers - 1) });
  await server.createBridge({ endpoint_a: epA.id, endpoint_b: epB.id });
  return { server, a, b, aPort: epA.rtp_port, bPort: epB.rtp_port, aId: epA.id, bId: epB.id };
}

for (const [workers, thread] of [
  [1, true],
  [2, true],
  [1, false],
  [2, false],
] as const) {
  const where = `${workers === 1 ? 'on one worker' : 'across two workers'}${thread ? '' : ' without the relay thread'}`;

  test(
    `relay offload ${where}: the addon relays the bridge, the stream stays continuous through telephone-events, counters complete`,
    native,
    async (t) => {
      assert.ok(loadNativeUdp(), 'the addon is built wherever the toolchain is');
      const { server, a, b, aPort, aId, bId } = await bridged(t, workers, thread);
      const gap = workers === 1 ? 5 : 40;
      const before = await offloaded(server);
      // A burst first: through JavaScript (across workers, through the ring) while the route is
      // armed, and no packet relayed by the addon may overtake one of them.
      await talk(a, aPort, 10, 0);
      // Then a steady pace: on one worker the first packet arms the route; across workers it is
      // armed once the ring has drained, checked between packets (about once a second).
      await talk(a, aPort, 50, gap);
      await b.waitFor(60);
      const mid = await offloaded(server);
      assert.ok(mid - before >= (workers === 1 ? 45 : 10), `offloaded ${mid - before} of 60`);
      // A digit: its events go through JavaScript (the DTMF engine hears them), the audio after it
      // through the addon again, all in one stream.
      await a.sendDtmf(aPort, '5');
      await talk(a, aPort, 40, gap);
      const events = b.received.filter((p) => p.pt === 101).length;
      assert.ok(events >= 6, `telephone-events relayed: ${events}`);
      await b.waitFor(100 + events);
      assertContinuous(b.received);
      assert.equal(b.received[0]!.marker, true, 'the stream starts with a marker');
      assert.ok(
        (await offloaded(server)) - mid >= (workers === 1 ? 30 : 5),
        'the audio after the digit is offloaded again',
      );
      // The receive side's statistics and the sender's counters saw every packet, offloaded or not.
      const sa = (await server.getEndpoint(aId)).stats;
      const sb = (await server.getEndpoint(bId)).stats;
      assert.equal(sa.packets_received, 100 + events);
      assert.equal(sa.packets_lost, 0);
      assert.equal(sb.packets_sent, 100 + events);
      assert.equal(sb.bytes_sent, 100 * 160 + events * 4);
      // Where it was relayed: mostly by the relay threads when they are on (the worker relays the
      // first packet of each arming before it hands the leg over), never when they are off.
      const total = await offloaded(server);
      const thr = await byThread(server);
      if (thread) assert.ok(thr >= total / 2, `relay threads relayed ${thr} of ${total}`);
      else assert.equal(thr, 0);
    },
  );
}

test(
  'relay offload: a recording that listens to a leg takes its packets back to JavaScript until it stops',
  native,
  async (t) => {
    const { server, a, b, aPort, aId } = await bridged(t, 1);
    await talk(a, aPort, 20);
    await b.waitFor(20);
    const rec = await server.recordings.start({ endpointId: aId, format: 'wav' });
    const during = await offloaded(server);
    await talk(a, aPort, 40);
    await b.waitFor(60);
    assert.equal(await offloaded(server), during, 'nothing offloaded while the recording listens');
    const done = await server.recordings.stop(rec.id);
    assert.ok((done.duration_ms ?? 0) >= 150, `the recording heard the leg: ${done.duration_ms} ms`);
    await talk(a, aPort, 40);
    await b.waitFor(100);
    assert.ok((await offloaded(server)) - during >= 30, 'offloaded again once the recording stopped');
    assertContinuous(b.received);
  },
);
