import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linearToUlaw } from '../../../src/media/codecs/g711.ts';
import {
  ConferenceRoom,
  type RoomHost,
  type RoomOptions,
  type VirtualMember,
} from '../../../src/media/engines/conference/ConferenceRoom.ts';
import type { Participant, ParticipantFlags } from '../../../src/media/engines/conference/Participant.ts';
import type { EndpointAudio, FrameSource } from '../../../src/media/engines/EndpointAudio.ts';
import type { PlayerSource } from '../../../src/media/engines/playback/PlayerSource.ts';
import type { RtpEndpoint } from '../../../src/media/transport/RtpEndpoint.ts';
import { toneAmplitude as tone } from '../../helpers/audio.ts';

/**
 * ConferenceRoom driven by hand, without sockets or timers: fake endpoints take RTP payloads
 * through `onAudioPacket` (so the jitter buffer and decoder are real) and the room's output is
 * pulled through each participant's FrameSource, one 20 ms tick at a time.
 */

type Fake = {
  ep: RtpEndpoint & { onAudioPacket: ((...a: unknown[]) => void) | null };
  audio: EndpointAudio & { source: FrameSource | null };
};

function fake(id: string): Fake {
  const ep = {
    id,
    closed: false,
    onAudioPacket: null,
    eventPackets: 0,
    media: {
      remote: null,
      rtcpMux: false,
      direction: 'sendrecv',
      telephoneEvent: null,
      codec: { name: 'pcmu', payloadType: 0, clockRate: 8000, channels: 1, ptime: 20, fmtp: {} },
    },
  };
  const audio = {
    source: null as FrameSource | null,
    setSource(s: FrameSource | null) {
      const prev = this.source;
      this.source = s;
      if (prev && prev !== s) prev.detach?.('replaced');
    },
  };
  return { ep: ep as unknown as Fake['ep'], audio: audio as unknown as Fake['audio'] };
}

const OPTS: RoomOptions = {
  sampleRate: 8000,
  maxParticipants: 0,
  loudestTalkers: 0,
  entryTone: false,
  exitTone: false,
  waitForModerator: false,
  endOnModeratorLeave: false,
  holdMusic: 'prompt:hold-music',
};
const FLAGS: ParticipantFlags = {
  muted: false,
  deaf: false,
  moderator: false,
  hold: false,
  gainDb: 0,
  outputGainDb: 0,
};

class Host implements RoomHost {
  readonly events: Array<[string, Record<string, unknown>]> = [];
  ended = false;
  notify(type: string, payload: Record<string, unknown>): void {
    this.events.push([type, payload]);
  }
  async loadMusic(): Promise<PlayerSource | null> {
    // A constant "music" level the tests can recognise.
    return {
      fill(out: Int16Array) {
        out.fill(1234);
        return out.length;
      },
      detach() {},
    } as unknown as PlayerSource;
  }
  onRoomEnded(): void {
    this.ended = true;
  }
  onParticipantLeft(_p: Participant): void {}
  types(): string[] {
    return this.events.map((e) => e[0]);
  }
}

/** A member sending a sine: one PCMU packet per tick into its endpoint's onAudioPacket. */
class Talker {
  readonly f: Fake;
  readonly freq: number;
  amp: number;
  seq = 100;
  ts = 0;
  heard = new Int16Array(160);
  constructor(id: string, freq: number, amp = 5000) {
    this.f = fake(id);
    this.freq = freq;
    this.amp = amp;
  }
  send(nowMs: number): void {
    const payload = new Uint8Array(160);
    for (let i = 0; i < 160; i++)
      payload[i] = linearToUlaw(Math.round(this.amp * Math.sin((2 * Math.PI * this.freq * (this.ts + i)) / 8000)));
    this.f.ep.onAudioPacket?.(0x1234, this.seq, this.ts, payload, nowMs);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts += 160;
  }
  /** What its endpoint sends this tick (the mix-minus, encoded by nothing: PCM at 8 kHz). */
  pull(nowMs: number): void {
    this.f.audio.source?.fill(this.heard, nowMs);
  }
}

let now = 1000;
/** Runs `n` ticks: everyone sends, the room mixes, everyone pulls its frame. */
function ticks(room: ConferenceRoom, talkers: Talker[], n: number): void {
  for (let i = 0; i < n; i++) {
    for (const t of talkers) if (t.amp > 0) t.send(now - 5);
    room.onTick(now);
    for (const t of talkers) t.pull(now);
    now += 20;
  }
}

test('ConferenceRoom mixes through jitter buffer and decoder: each member hears the others, not itself', () => {
  const host = new Host();
  const room = new ConferenceRoom('r', OPTS, host);
  const ts = [new Talker('a', 400), new Talker('b', 700), new Talker('c', 1100)];
  for (const t of ts) room.join(t.f.ep, t.f.audio, { ...FLAGS });
  ticks(room, ts, 10);
  for (const [i, t] of ts.entries()) {
    for (const [j, o] of ts.entries()) {
      const level = tone(t.heard, o.freq);
      if (i === j) assert.ok(level < 100, `${t.f.ep.id} hears itself at ${level}`);
      else assert.ok(level > 4500, `${t.f.ep.id} hears ${o.f.ep.id} at ${level}`);
    }
  }
  assert.deepEqual(host.types().filter((x) => x.includes('joined')).length, 3);
  assert.ok(host.types().includes('conference.talking.started'));
});

test('ConferenceRoom talking events: started after the attack, stopped after the release', () => {
  const host = new Host();
  const room = new ConferenceRoom('r', OPTS, host);
  const a = new Talker('a', 400);
  const b = new Talker('b', 700, 0);
  room.join(a.f.ep, a.f.audio, { ...FLAGS });
  room.join(b.f.ep, b.f.audio, { ...FLAGS });
  ticks(room, [a, b], 10);
  a.amp = 0; // stops sending: its stream pauses
  ticks(room, [a, b], 60);
  const talk = host.events.filter((e) => e[0].startsWith('conference.talking')).map((e) => [e[0], e[1].endpointId]);
  assert.deepEqual(talk, [
    ['conference.talking.started', 'a'],
    ['conference.talking.stopped', 'a'],
  ]);
});

test('ConferenceRoom wait_for_moderator: members hear music until a moderator joins, and the room ends when it leaves', () => {
  const host = new Host();
  const room = new ConferenceRoom('r', { ...OPTS, waitForModerator: true, endOnModeratorLeave: true }, host);
  const a = new Talker('a', 400);
  const m = new Talker('m', 700);
  const pa = room.join(a.f.ep, a.f.audio, { ...FLAGS });
  assert.equal(pa.state, 'waiting');
  return Promise.resolve().then(() => {
    ticks(room, [a], 3);
    assert.ok(
      a.heard.every((v) => v === 1234),
      'waiting member hears the music',
    );
    room.join(m.f.ep, m.f.audio, { ...FLAGS, moderator: true });
    assert.equal(pa.state, 'active');
    assert.deepEqual(host.events.find((e) => e[0] === 'conference.participant.updated')?.[1].state, 'active');
    ticks(room, [a, m], 6);
    assert.ok(tone(a.heard, 700) > 4500, 'hears the moderator');
    room.leave(room.participants.get('m')!, 'left');
    assert.equal(host.ended, true);
    assert.equal(room.participants.size, 0);
    const left = host.events
      .filter((e) => e[0] === 'conference.participant.left')
      .map((e) => [e[1].endpointId, e[1].reason]);
    assert.deepEqual(left, [
      ['m', 'left'],
      ['a', 'ended'],
    ]);
    assert.equal(host.events.at(-1)![1].reason, 'moderator_left');
    assert.equal(a.f.audio.source, null, 'endpoints are given back');
    assert.equal(a.f.ep.onAudioPacket, null);
  });
});

test('ConferenceRoom: a prompt played to a member replaces the mix; the mix comes back when it ends', () => {
  const host = new Host();
  const room = new ConferenceRoom('r', OPTS, host);
  const a = new Talker('a', 400);
  const b = new Talker('b', 700);
  const pb = room.join(b.f.ep, b.f.audio, { ...FLAGS });
  room.join(a.f.ep, a.f.audio, { ...FLAGS });
  ticks(room, [a, b], 5);
  const prompt: FrameSource = {
    fill: (out) => {
      out.fill(77);
      return out.length;
    },
  };
  b.f.audio.setSource(prompt);
  ticks(room, [a, b], 2);
  assert.ok(
    b.heard.every((v) => v === 77),
    'the prompt plays',
  );
  assert.equal(room.participants.get('b'), pb, 'still a member');
  b.f.audio.setSource(null); // the prompt ended
  ticks(room, [a, b], 3);
  assert.equal(b.f.audio.source, pb);
  assert.ok(tone(b.heard, 400) > 4500, 'the mix is back');
});

test('ConferenceRoom conceals a lost packet and plays reordered ones in order', () => {
  const host = new Host();
  const room = new ConferenceRoom('r', OPTS, host);
  const a = new Talker('a', 400);
  const b = new Talker('b', 700, 0);
  const pa = room.join(a.f.ep, a.f.audio, { ...FLAGS });
  room.join(b.f.ep, b.f.audio, { ...FLAGS });
  ticks(room, [a, b], 5);
  // Drop one packet, then swap two.
  a.seq++;
  a.ts += 160;
  ticks(room, [a, b], 3);
  const t0 = a.seq;
  const tsx = a.ts;
  a.seq = t0 + 1;
  a.ts = tsx + 160;
  a.send(now - 5);
  a.seq = t0;
  a.ts = tsx;
  a.send(now - 4);
  a.seq = t0 + 2;
  a.ts = tsx + 320;
  room.onTick(now);
  b.pull(now);
  now += 20;
  ticks(room, [a, b], 5);
  const jb = pa.jitterBuffer!;
  assert.equal(jb.stats.lost, 1);
  assert.equal(jb.stats.late, 0);
  assert.ok(tone(b.heard, 400) > 4500);
});

/** A virtual member (a bot's stream) speaking a sine from a FrameSource, or only listening. */
class Virtual implements VirtualMember {
  readonly id: string;
  readonly source: FrameSource | null;
  heard: Int16Array[] = [];
  ended = 0;
  #t = 0;
  constructor(id: string, freq: number | null) {
    this.id = id;
    this.source =
      freq === null
        ? null
        : {
            fill: (out: Int16Array) => {
              for (let i = 0; i < out.length; i++)
                out[i] = Math.round(5000 * Math.sin((2 * Math.PI * freq * this.#t++) / 8000));
              return out.length;
            },
          };
  }
  onMix(pcm: Int16Array): void {
    this.heard.push(pcm.slice());
  }
  onRoomEnded(): void {
    this.ended++;
  }
  last(n: number): Int16Array {
    const frames = this.heard.slice(-n);
    const out = new Int16Array(frames.length * 160);
    frames.forEach((f, i) => out.set(f, i * 160));
    return out;
  }
}

test('virtual members: each hears everyone but itself, RTP participants hear them, a listen-only one is heard by nobody; the end removes them', () => {
  const host = new Host();
  const room = new ConferenceRoom('virt', OPTS, host);
  const a = new Talker('a', 400);
  room.join(a.f.ep, a.f.audio, { ...FLAGS });
  const v1 = new Virtual('v1', 700);
  const v2 = new Virtual('v2', 1100);
  const quiet = new Virtual('quiet', null);
  room.addVirtual(v1);
  room.addVirtual(v2);
  room.addVirtual(quiet);
  assert.throws(() => room.addVirtual(v1), /exists/);
  assert.equal(room.participants.size, 1, 'virtual members are not participants');
  ticks(room, [a], 25);
  const h1 = v1.last(10);
  assert.ok(tone(h1, 400) > 2500 && tone(h1, 1100) > 2500, 'v1 hears the RTP participant and v2');
  assert.ok(tone(h1, 700) < 50, `v1 does not hear itself (${tone(h1, 700).toFixed(1)})`);
  const hq = quiet.last(10);
  for (const f of [400, 700, 1100]) assert.ok(tone(hq, f) > 2500, `the listener hears ${f} Hz`);
  // The RTP participant hears both bots (its last frame: 160 samples, the tones are strong).
  assert.ok(tone(a.heard, 700) > 2500 && tone(a.heard, 1100) > 2500, 'the RTP participant hears both bots');
  assert.ok(tone(a.heard, 400) < 50, 'and not itself');

  assert.equal(room.removeVirtual('v2'), true);
  assert.equal(room.removeVirtual('v2'), false);
  ticks(room, [a], 5);
  assert.ok(tone(v1.last(3), 1100) < 50, 'a removed member is no longer mixed');
  room.end('deleted');
  assert.deepEqual([v1.ended, v2.ended, quiet.ended], [1, 0, 1]);
  assert.deepEqual(room.virtualIds, []);
  assert.throws(() => room.addVirtual(new Virtual('late', null)), /ended/);
});
