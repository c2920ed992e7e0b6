import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { ConferenceService } from '../../src/control/services/ConferenceService.ts';
import type { ServerEvent } from '../../src/control/types.ts';
import { linearToUlaw, ulawToLinear } from '../../src/media/codecs/g711.ts';
import { run } from '../helpers/proc.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';
import { toneAmplitude as tone } from '../helpers/audio.ts';

/**
 * Conferences over real RTP: each participant is an RtpPeer sending its own sine as PCMU every
 * 20 ms; what each peer receives is decoded (by ffmpeg in the three-party test) and measured with
 * Goertzel filters at every talker's frequency.
 */

const FREQS = [400, 700, 1100];
const AMP = 6000;

let dir: string;
let server: MediaServer;
let conferences: ConferenceService;

/** A conference member: a peer that sends a sine as PCMU, paced by a 20 ms timer. */
class Talker {
  readonly peer: RtpPeer;
  readonly freq: number;
  endpointId = '';
  rtpPort = 0;
  #n = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(peer: RtpPeer, freq: number) {
    this.peer = peer;
    this.freq = freq;
  }

  static async open(room: string, freq: number): Promise<Talker> {
    const t = new Talker(await RtpPeer.open(), freq);
    const ep = await server.createEndpoint({
      remote_sdp: t.peer.offer(['pcmu'], { telephoneEvent: false }),
      affinity: room,
    });
    t.endpointId = ep.id;
    t.rtpPort = ep.rtp_port;
    return t;
  }

  start(): void {
    const payload = new Uint8Array(160);
    // Paced on absolute time like a real phone (a bare 20 ms setInterval runs slow and drifts).
    const t0 = performance.now();
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 20) + 1;
      while (this.#n < due) {
        for (let i = 0; i < 160; i++)
          payload[i] = linearToUlaw(Math.round(AMP * Math.sin((2 * Math.PI * this.freq * (this.#n * 160 + i)) / 8000)));
        this.#n++;
        this.peer.send(this.rtpPort, payload);
      }
    }, 5);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Waits for `frames` more received packets; returns their decoded audio (our decoder). */
  async hear(frames: number): Promise<Int16Array> {
    const from = this.peer.received.length;
    await this.peer.waitFor(from + frames, 5000);
    const got = this.peer.received.slice(from, from + frames);
    const pcm = new Int16Array(frames * 160);
    let o = 0;
    for (const r of got) for (const b of r.payload) pcm[o++] = ulawToLinear(b);
    return pcm.subarray(0, o);
  }

  close(): void {
    this.stop();
    this.peer.close();
  }
}

function levels(x: Int16Array): number[] {
  return FREQS.map((f) => Math.round(tone(x, f)));
}

async function decodeWithFfmpeg(name: string, payloads: readonly Buffer[]): Promise<Int16Array> {
  const file = path.join(dir, `${name}.ulaw`);
  const out = path.join(dir, `${name}.s16`);
  writeFileSync(file, Buffer.concat(payloads));
  const r = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'mulaw',
    '-ar',
    '8000',
    '-ac',
    '1',
    '-i',
    file,
    '-f',
    's16le',
    out,
  ]).done;
  assert.equal(r.code, 0, r.stderr);
  const b = readFileSync(out);
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

function collect(type: string, into: ServerEvent[]): () => void {
  return server.events.subscribe((e) => {
    if (e.type.startsWith(type)) into.push(e);
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'conference-'));
  server = await startServer();
  conferences = server.conferences;
});

after(async () => {
  conferences.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('conference over RTP', () => {
  test(
    'three parties: each hears the other two and not itself (ffmpeg decodes what they got)',
    needs('ffmpeg'),
    async (t) => {
      const events: ServerEvent[] = [];
      t.after(collect('conference.', events));
      const room = 'three-party';
      await conferences.create({ id: room, entryTone: false, exitTone: false });
      const talkers = await Promise.all(FREQS.map((f) => Talker.open(room, f)));
      t.after(() => talkers.forEach((x) => x.close()));
      for (const x of talkers) {
        x.start();
        await conferences.addParticipant(room, { endpointId: x.endpointId });
      }
      // Let the jitter buffers fill and the mix settle, then listen for 0.5 s.
      for (const x of talkers) await x.hear(10);
      for (let i = 0; i < 3; i++) {
        const from = talkers[i]!.peer.received.length;
        await talkers[i]!.peer.waitFor(from + 25);
        const pcm = await decodeWithFfmpeg(
          `p${i}`,
          talkers[i]!.peer.received.slice(from, from + 25).map((r) => r.payload),
        );
        const l = levels(pcm);
        for (let j = 0; j < 3; j++) {
          if (i === j) assert.ok(l[j]! < AMP / 30, `participant ${i} hears itself: ${l}`);
          else
            assert.ok(
              l[j]! > AMP * 0.85 && l[j]! < AMP * 1.15,
              `participant ${i} hears ${j} at ${l[j]} (want ~${AMP}): ${l}`,
            );
        }
      }
      const info = await conferences.get(room);
      assert.equal(info.participants.length, 3);
      assert.ok(info.participants.every((p) => p.state === 'active' && p.codec === 'pcmu'));
      const joined = events.filter((e) => e.type === 'conference.participant.joined').map((e) => e.endpoint_id);
      assert.deepEqual(
        joined,
        talkers.map((x) => x.endpointId),
      );
      assert.ok(events.some((e) => e.type === 'conference.talking.started' && e.conference_id === room));
      // Leaving: an event per member, the room ends when deleted.
      await conferences.removeParticipant(room, talkers[0]!.endpointId, 'left');
      const ended = nextEvent(server, 'conference.ended', (e) => e.conference_id === room);
      await conferences.delete(room);
      await ended;
      const left = events.filter((e) => e.type === 'conference.participant.left');
      assert.deepEqual(
        left.map((e) => [e.endpoint_id, e.reason]),
        [
          [talkers[0]!.endpointId, 'left'],
          [talkers[1]!.endpointId, 'ended'],
          [talkers[2]!.endpointId, 'ended'],
        ],
      );
      assert.equal(conferences.has(room), false);
    },
  );

  test("a member's RFC 4733 and comfort noise packets are not counted as lost audio (they share its sequence numbers)", async (t) => {
    const room = 'events-not-loss';
    await conferences.create({ id: room, entryTone: false, exitTone: false });
    t.after(() => conferences.delete(room).catch(() => undefined));
    const peer = await RtpPeer.open();
    t.after(() => peer.close());
    const offer = peer
      .offer(['pcmu'])
      .replace('RTP/AVP 0 101', 'RTP/AVP 0 13 101')
      .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000');
    const ep = await server.createEndpoint({ remote_sdp: offer, affinity: room });
    assert.ok(ep.telephone_event, 'telephone-event negotiated');
    assert.match(ep.sdp, /a=rtpmap:13 CN\/8000/, 'CN negotiated');
    await conferences.addParticipant(room, { endpointId: ep.id });
    const payload = new Uint8Array(160).fill(0xff);
    const talk = async (frames: number) => {
      for (let i = 0; i < frames; i++) {
        peer.send(ep.rtp_port, payload, 0, { marker: i === 0 });
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await talk(15);
    await peer.sendDtmf(ep.rtp_port, '5');
    await talk(10);
    peer.send(ep.rtp_port, Uint8Array.of(60), 13, { samples: 800 }); // silence begins: one SID packet
    await new Promise((r) => setTimeout(r, 100));
    await talk(15);
    await new Promise((r) => setTimeout(r, 300)); // the playout reaches the last packet
    const member = (await conferences.get(room)).participants.find((p) => p.endpointId === ep.id);
    assert.ok(member?.jitterBuffer, 'the member has a jitter buffer');
    assert.equal(member.jitterBuffer.lost, 0, `no audio was lost: ${JSON.stringify(member.jitterBuffer)}`);
  });

  test('volume does not drop when a third participant joins', async (t) => {
    const room = 'volume';
    await conferences.create({ id: room, entryTone: false });
    const [a, b, c] = await Promise.all(FREQS.map((f) => Talker.open(room, f)));
    t.after(() => [a, b, c].forEach((x) => x!.close()));
    a!.start();
    b!.start();
    await conferences.addParticipant(room, { endpointId: a!.endpointId });
    await conferences.addParticipant(room, { endpointId: b!.endpointId });
    await b!.hear(10);
    const before = tone(await b!.hear(25), FREQS[0]!);
    c!.start();
    await conferences.addParticipant(room, { endpointId: c!.endpointId });
    await b!.hear(10);
    const heard = await b!.hear(25);
    const afterLevel = tone(heard, FREQS[0]!);
    assert.ok(tone(heard, FREQS[2]!) > AMP * 0.85, 'the third is heard');
    assert.ok(
      Math.abs(20 * Math.log10(afterLevel / before)) < 0.5,
      `A's level at B went from ${before} to ${afterLevel}`,
    );
    await conferences.delete(room);
  });

  test('mute takes a member out of the mix, deaf gives it silence; both reported as updates', async (t) => {
    const events: ServerEvent[] = [];
    t.after(collect('conference.participant.updated', events));
    const room = 'mute-deaf';
    await conferences.create({ id: room, entryTone: false, exitTone: false });
    const talkers = await Promise.all(FREQS.map((f) => Talker.open(room, f)));
    t.after(() => talkers.forEach((x) => x.close()));
    for (const x of talkers) {
      x.start();
      await conferences.addParticipant(room, { endpointId: x.endpointId });
    }
    await talkers[1]!.hear(10);
    await conferences.updateParticipant(room, talkers[0]!.endpointId, { muted: true });
    await conferences.updateParticipant(room, talkers[2]!.endpointId, { deaf: true });
    await talkers[1]!.hear(3);
    await talkers[2]!.hear(3);
    const l1 = levels(await talkers[1]!.hear(25));
    assert.ok(l1[0]! < AMP / 30, `muted 0 is not heard by 1: ${l1}`);
    assert.ok(l1[2]! > AMP * 0.85, `deaf 2 is still heard by 1: ${l1}`);
    const l2 = levels(await talkers[2]!.hear(25));
    assert.ok(
      l2.every((v) => v < AMP / 30),
      `deaf 2 hears nothing: ${l2}`,
    );
    const l0 = levels(await talkers[0]!.hear(25));
    assert.ok(l0[1]! > AMP * 0.85 && l0[2]! > AMP * 0.85, `muted 0 still hears: ${l0}`);
    assert.deepEqual(
      events.map((e) => [e.endpoint_id, e.muted, e.deaf]),
      [
        [talkers[0]!.endpointId, true, false],
        [talkers[2]!.endpointId, false, true],
      ],
    );
    const info = await conferences.get(room);
    assert.deepEqual(
      info.participants.map((p) => [p.muted, p.deaf]),
      [
        [true, false],
        [false, false],
        [false, true],
      ],
    );
    await conferences.delete(room);
  });

  test('an endpoint deleted while in a conference leaves it with reason hangup; max_participants and worker checks answer 409', async (t) => {
    const room = 'limits';
    await conferences.create({ id: room, maxParticipants: 1, entryTone: false });
    const [a, b] = await Promise.all([Talker.open(room, 400), Talker.open(room, 700)]);
    t.after(() => [a, b].forEach((x) => x!.close()));
    await conferences.addParticipant(room, { endpointId: a!.endpointId });
    await assert.rejects(conferences.addParticipant(room, { endpointId: b!.endpointId }), {
      code: 'CONFERENCE_FULL',
      name: 'InvalidStateError',
    });
    await assert.rejects(conferences.addParticipant(room, { endpointId: a!.endpointId }), {
      code: 'ALREADY_IN_CONFERENCE',
    });
    await assert.rejects(conferences.addParticipant(room, { endpointId: 'nope' }), { code: 'ENDPOINT_NOT_FOUND' });
    const left = nextEvent(server, 'conference.participant.left', (e) => e.endpoint_id === a!.endpointId);
    await server.deleteEndpoint(a!.endpointId);
    assert.equal((await left).reason, 'hangup');
    assert.equal((await conferences.get(room)).participants.length, 0);
    await conferences.delete(room);
  });

  test('wait_for_moderator: members hear music until the moderator joins; end_on_moderator_leave ends the room', async (t) => {
    const room = 'moderated';
    await conferences.create({
      id: room,
      waitForModerator: true,
      endOnModeratorLeave: true,
      entryTone: false,
      exitTone: false,
    });
    const [member, mod] = await Promise.all([Talker.open(room, 400), Talker.open(room, 700)]);
    t.after(() => [member, mod].forEach((x) => x!.close()));
    member!.start();
    mod!.start();
    const p = await conferences.addParticipant(room, { endpointId: member!.endpointId });
    assert.equal(p.state, 'waiting');
    await member!.hear(10);
    const waiting = await member!.hear(50);
    let energy = 0;
    for (const v of waiting) energy += v * v;
    assert.ok(Math.sqrt(energy / waiting.length) > 100, 'hold music is heard while waiting');
    const live = nextEvent(
      server,
      'conference.participant.updated',
      (e) => e.endpoint_id === member!.endpointId && e.state === 'active',
    );
    await conferences.addParticipant(room, { endpointId: mod!.endpointId, moderator: true });
    await live;
    await member!.hear(10);
    const heard = await member!.hear(25);
    assert.ok(tone(heard, 700) > AMP * 0.85, `the member hears the moderator: ${tone(heard, 700)} ${tone(heard, 400)}`);
    const ended = nextEvent(server, 'conference.ended', (e) => e.conference_id === room);
    await conferences.removeParticipant(room, mod!.endpointId, 'left');
    assert.equal((await ended).reason, 'moderator_left');
  });

  test('join() for flows resolves when the member is kicked, and with stopped on abort', async (t) => {
    const [a, b] = await Promise.all([Talker.open('flow-room', 400), Talker.open('flow-room', 700)]);
    t.after(() => [a, b].forEach((x) => x!.close()));
    const joined = nextEvent(server, 'conference.participant.joined', (e) => e.endpoint_id === a!.endpointId);
    const ac = new AbortController();
    const membership = conferences.join(a!.endpointId, 'flow-room', { muted: true }, ac.signal);
    await joined;
    assert.equal((await conferences.get('flow-room')).participants[0]!.muted, true);
    await conferences.removeParticipant('flow-room', a!.endpointId);
    assert.deepEqual(await membership, { reason: 'kicked' });
    const ac2 = new AbortController();
    const joined2 = nextEvent(server, 'conference.participant.joined', (e) => e.endpoint_id === b!.endpointId);
    const m2 = conferences.join(b!.endpointId, 'flow-room', {}, ac2.signal);
    await joined2;
    const left = nextEvent(server, 'conference.participant.left', (e) => e.endpoint_id === b!.endpointId);
    ac2.abort();
    assert.deepEqual(await m2, { reason: 'stopped' });
    assert.equal((await left).reason, 'left');
    await conferences.delete('flow-room');
  });
});
