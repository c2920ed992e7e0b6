import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MediaServer } from '../../src/control/MediaServer.ts';
import { ConferenceService } from '../../src/control/services/ConferenceService.ts';
import type { Codec } from '../../src/media/codecs/Codec.ts';
import { createCodec } from '../../src/media/codecs/index.ts';
import { freeUdpPortPair, run, waitUntilBound } from '../helpers/proc.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { needs } from '../helpers/peers.ts';
import { rms, toneAmplitude as tone } from '../helpers/audio.ts';

/**
 * Conferences with members in different codecs (a 16 kHz room with G.722 and PCMU members), an
 * ffmpeg receiver as a member, playback into a room, and hold music.
 */

let dir: string;
let server: MediaServer;
let conferences: ConferenceService;

/** A member sending a sum of tones in its codec, paced on absolute time, decoding what it gets. */
class Member {
  readonly peer: RtpPeer;
  readonly codec: Codec;
  readonly pt: number;
  readonly tones: number[];
  readonly amp: number;
  endpointId = '';
  #port = 0;
  #n = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(peer: RtpPeer, codecName: 'pcmu' | 'g722', tones: number[], amp: number) {
    this.peer = peer;
    this.codec = createCodec(codecName);
    this.pt = codecName === 'pcmu' ? 0 : 9;
    this.tones = tones;
    this.amp = amp;
  }

  get rate(): number {
    return this.codec.sampleRate;
  }

  static async open(room: string, codecName: 'pcmu' | 'g722', tones: number[], amp = 5000): Promise<Member> {
    const m = new Member(await RtpPeer.open(), codecName, tones, amp);
    const ep = await server.createEndpoint({
      remote_sdp: m.peer.offer([codecName], { telephoneEvent: false }),
      affinity: room,
    });
    m.endpointId = ep.id;
    m.#port = ep.rtp_port;
    return m;
  }

  start(): void {
    const frame = this.rate / 50;
    const pcm = new Int16Array(frame);
    const payload = new Uint8Array(frame);
    const t0 = performance.now();
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 20) + 1;
      while (this.#n < due) {
        for (let i = 0; i < frame; i++) {
          let v = 0;
          for (const f of this.tones) v += Math.sin((2 * Math.PI * f * (this.#n * frame + i)) / this.rate);
          pcm[i] = Math.round(this.amp * v);
        }
        const bytes = this.codec.encode(pcm, payload);
        this.#n++;
        this.peer.send(this.#port, payload.subarray(0, bytes), this.pt);
      }
    }, 5);
  }

  /** Decoded audio of the next `frames` packets received. */
  async hear(frames: number): Promise<Int16Array> {
    const from = this.peer.received.length;
    await this.peer.waitFor(from + frames, 5000);
    const frame = this.rate / 50;
    const out = new Int16Array(frames * frame);
    const tmp = new Int16Array(frame * 6);
    let o = 0;
    for (const r of this.peer.received.slice(from, from + frames)) {
      const n = this.codec.decode(r.payload, tmp);
      out.set(tmp.subarray(0, Math.min(n, out.length - o)), o);
      o += n;
    }
    return out;
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.peer.close();
    this.codec.close?.();
  }
}

/**
 * The tone's amplitude in most 20 ms blocks (the median): a member heard is heard in most frames,
 * while on a loaded machine the room's jitter buffer may conceal or skip a few, which would pull
 * an average over the whole window below the bound without anything being wrong.
 */
function heardMost(x: Int16Array, freq: number, rate: number): number {
  const n = rate / 50;
  const amps: number[] = [];
  for (let i = 0; i + n <= x.length; i += n) amps.push(tone(x.subarray(i, i + n), freq, rate));
  amps.sort((p, q) => p - q);
  return amps[amps.length >> 1] ?? 0;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'conference-media-'));
  server = await startServer();
  conferences = server.conferences;
});

after(async () => {
  conferences.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('conference media', () => {
  test('a 16 kHz room: G.722 members hear each other wideband (6 kHz), the PCMU member hears the narrowband part without aliases', async (t) => {
    const room = 'wideband';
    await conferences.create({ id: room, sampleRate: 16000, entryTone: false });
    const a = await Member.open(room, 'g722', [1000, 6000], 4000);
    const b = await Member.open(room, 'g722', [1500], 5000);
    const c = await Member.open(room, 'pcmu', [400], 5000);
    t.after(() => [a, b, c].forEach((m) => m.close()));
    for (const m of [a, b, c]) {
      m.start();
      await conferences.addParticipant(room, { endpointId: m.endpointId });
    }
    for (const m of [a, b, c]) await m.hear(15);
    const hb = await b.hear(25);
    assert.ok(heardMost(hb, 6000, 16000) > 4000 * 0.7, `B hears A's 6 kHz: ${heardMost(hb, 6000, 16000)}`);
    assert.ok(heardMost(hb, 1000, 16000) > 4000 * 0.8, `B hears A's 1 kHz: ${heardMost(hb, 1000, 16000)}`);
    assert.ok(heardMost(hb, 400, 16000) > 5000 * 0.8, `B hears C (PCMU) ${heardMost(hb, 400, 16000)}`);
    assert.ok(tone(hb, 1500, 16000) < 200, 'B does not hear itself');
    const hc = await c.hear(25);
    assert.ok(
      heardMost(hc, 1000, 8000) > 4000 * 0.8 && heardMost(hc, 1500, 8000) > 5000 * 0.8,
      'C hears both G.722 members',
    );
    assert.ok(tone(hc, 2000, 8000) < 100, `no alias of 6 kHz at 2 kHz in the PCMU stream: ${tone(hc, 2000, 8000)}`);
    assert.ok(tone(hc, 400, 8000) < 100, 'C does not hear itself');
    const info = await conferences.get(room);
    assert.deepEqual(
      info.participants.map((p) => p.codec),
      ['g722', 'g722', 'pcmu'],
    );
    await conferences.delete(room);
  });

  test('an ffmpeg receiver in the room decodes both talkers', needs('ffmpeg'), async (t) => {
    const room = 'ffmpeg-room';
    await conferences.create({ id: room, entryTone: false });
    const a = await Member.open(room, 'pcmu', [500]);
    const b = await Member.open(room, 'pcmu', [900]);
    t.after(() => [a, b].forEach((m) => m.close()));
    const port = await freeUdpPortPair();
    const sdp = (direction: string) =>
      [
        'v=0',
        'o=ffmpeg 1 1 IN IP4 127.0.0.1',
        's=peer',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        `m=audio ${port} RTP/AVP 0`,
        'a=rtpmap:0 PCMU/8000',
        `a=rtcp:${port + 1}`,
        'a=ptime:20',
        `a=${direction}`,
        '',
      ].join('\r\n');
    const ep = await server.createEndpoint({ remote_sdp: sdp('recvonly'), affinity: room });
    const sdpFile = path.join(dir, 'ffmpeg.sdp');
    writeFileSync(sdpFile, sdp('sendonly'));
    const out = path.join(dir, 'ffmpeg.s16');
    const receiver = run(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-protocol_whitelist',
        'file,udp,rtp',
        '-i',
        sdpFile,
        '-t',
        '1.5',
        '-ac',
        '1',
        '-ar',
        '8000',
        '-f',
        's16le',
        out,
      ],
      20_000,
    );
    t.after(() => receiver.child.kill('SIGKILL'));
    await waitUntilBound(port);
    for (const m of [a, b]) {
      m.start();
      await conferences.addParticipant(room, { endpointId: m.endpointId });
    }
    await conferences.addParticipant(room, { endpointId: ep.id });
    const r = await receiver.done;
    assert.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(out);
    const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const tail = pcm.subarray(Math.max(0, pcm.length - 4000));
    assert.ok(tail.length >= 4000, `ffmpeg decoded ${pcm.length} samples`);
    assert.ok(
      heardMost(tail, 500, 8000) > 5000 * 0.8 && heardMost(tail, 900, 8000) > 5000 * 0.8,
      `ffmpeg hears both: ${heardMost(tail, 500, 8000)} ${heardMost(tail, 900, 8000)}`,
    );
    await conferences.delete(room);
  });

  test('playback into a room is heard by every member and reports playback.finished with the conference id', async (t) => {
    const room = 'announce';
    await conferences.create({ id: room, entryTone: false });
    const a = await Member.open(room, 'pcmu', [400]);
    const b = await Member.open(room, 'g722', [700]);
    t.after(() => [a, b].forEach((m) => m.close()));
    for (const m of [a, b]) {
      m.start();
      await conferences.addParticipant(room, { endpointId: m.endpointId });
    }
    await a.hear(10);
    const started = nextEvent(server, 'playback.started', (e) => e.conference_id === room);
    const { playbackId } = await conferences.play(room, ['tone:1000:1000']);
    await started;
    const finished = nextEvent(server, 'playback.finished', (e) => e.playback_id === playbackId);
    const [ha, hb] = await Promise.all([a.hear(15), b.hear(15)]);
    assert.ok(
      tone(ha.subarray(800), 1000, 8000) > 1000,
      `A hears the announcement: ${tone(ha.subarray(800), 1000, 8000)}`,
    );
    assert.ok(
      tone(hb.subarray(1600), 1000, 16000) > 1000,
      `B hears the announcement: ${tone(hb.subarray(1600), 1000, 16000)}`,
    );
    const done = await finished;
    assert.equal(done.reason, 'done');
    assert.equal(done.conference_id, room);
    assert.deepEqual((await conferences.get(room)).playbacks, []);
    await conferences.delete(room);
  });

  test('hold: the held member hears music and is not heard; entry tone on join', async (t) => {
    const room = 'hold';
    await conferences.create({ id: room, entryTone: true, exitTone: false });
    const a = await Member.open(room, 'pcmu', [400]);
    const b = await Member.open(room, 'pcmu', [700]);
    t.after(() => [a, b].forEach((m) => m.close()));
    a.start();
    await conferences.addParticipant(room, { endpointId: a.endpointId });
    await a.hear(3);
    b.start();
    const hearing = a.hear(15);
    await conferences.addParticipant(room, { endpointId: b.endpointId });
    const heard = await hearing;
    assert.ok(tone(heard, 880, 8000) > 200, `A hears the entry tone when B joins: ${tone(heard, 880, 8000)}`);
    const held = nextEvent(
      server,
      'conference.participant.updated',
      (e) => e.endpoint_id === b.endpointId && e.state === 'held',
    );
    await conferences.updateParticipant(room, b.endpointId, { hold: true });
    await held;
    await Promise.all([a.hear(10), b.hear(10)]);
    const [ha, hb] = await Promise.all([a.hear(50), b.hear(50)]);
    assert.ok(tone(ha, 700, 8000) < 100, 'the held member is not heard');
    assert.ok(rms(hb) > 100, `the held member hears music (rms ${rms(hb)})`);
    assert.ok(tone(hb, 400, 8000) < 200, 'and not the room');
    await conferences.delete(room);
  });
});
