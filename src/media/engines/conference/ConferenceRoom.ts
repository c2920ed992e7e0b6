import { InvalidStateError } from '../../../common/errors.ts';
import type {
  ConferenceEndReason,
  ConferenceInfo,
  ConferenceSampleRate,
  ConferenceSettings,
  LeaveReason,
  NotificationType,
  ParticipantInfo,
  ParticipantState,
  WorkerNotifications,
} from '../../../protocol/index.ts';
import { Mixer, type MixerChannel } from '../../dsp/Mixer.ts';
import { ToneGenerator, type ToneSpec } from '../../playback/ToneGenerator.ts';
import type { RtpEndpoint } from '../../transport/RtpEndpoint.ts';
import type { AudioTap, EndpointAudio, FrameSource } from '../EndpointAudio.ts';
import type { Clocked } from '../MediaClock.ts';
import type { PlayerSource } from '../playback/PlayerSource.ts';
import { Participant, type ParticipantFlags, type ParticipantRoom } from './Participant.ts';

/** A room's options, every one decided (ConferenceSettings with the engine's defaults applied). */
export type RoomOptions = Required<ConferenceSettings> & { sampleRate: ConferenceSampleRate };

/** What a room asks of its engine (notifications, music loading); keeps the room free of I/O. */
export interface RoomHost {
  notify<T extends NotificationType>(type: T, payload: WorkerNotifications[T]): void;
  /** Loads a looping player at the room's rate for the hold music (async; null on failure). */
  loadMusic(media: string, sampleRate: number): Promise<PlayerSource | null>;
  /** The room ended (moderator left, destroyed): the engine forgets it. */
  onRoomEnded(room: ConferenceRoom): void;
  /** A participant left: the engine forgets its endpoint. */
  onParticipantLeft(p: Participant): void;
}

/**
 * A member with no RTP endpoint (a voice bot's media stream): its audio comes from `source` (null:
 * it only listens), and once per tick it is handed what a participant hears, everyone mixed but
 * itself. Always active: it is not held, not kept waiting for a moderator, has no tones.
 */
export interface VirtualMember {
  readonly id: string;
  readonly source: FrameSource | null;
  /** This tick's mix minus the member itself, at the room's rate (valid during the call only). */
  onMix(pcm: Int16Array, sampleRate: number, nowMs: number): void;
  /** The conference ended (the member has been removed). */
  onRoomEnded(): void;
}

interface RoomVirtual {
  readonly member: VirtualMember;
  readonly channel: MixerChannel;
}

interface RoomPlayback {
  readonly id: string;
  readonly source: FrameSource;
  readonly channel: MixerChannel;
}

/** Entry and exit tones (a rising and a falling pitch), short and below speech level. */
const ENTRY_TONE: ToneSpec = { frequencies: [880], onMs: 0, offMs: 0, durationMs: 150, levelDbfs: -18 };
const EXIT_TONE: ToneSpec = { frequencies: [440], onMs: 0, offMs: 0, durationMs: 150, levelDbfs: -18 };
/** Tick lateness histogram: 0.1 ms buckets up to 100 ms. */
const LATE_BUCKETS = 1000;

/**
 * A conference on one media worker: its Mixer, participants (each in its own codec, see
 * Participant), entry/exit tones, hold/wait music, playbacks mixed in as sources, and taps that
 * hear the full mix (a recorder). Driven by the worker's 20 ms MediaClock: one mix per tick,
 * done by whichever of the room and its members' EndpointAudio the clock runs first.
 */
export class ConferenceRoom implements Clocked, ParticipantRoom {
  readonly id: string;
  readonly options: RoomOptions;
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly createdAt = new Date().toISOString();
  readonly mixer: Mixer;
  readonly participants = new Map<string, Participant>();
  /** The same participants as an array, iterated on the hot path without an iterator object. */
  #list: Participant[] = [];
  /** Hear the full mix at the conference rate ('out') once per tick: recorders. */
  readonly taps = new Set<AudioTap>();
  readonly musicFrame: Int16Array;
  readonly #host: RoomHost;
  readonly #toneChannel: MixerChannel;
  #tone: ToneGenerator | null = null;
  #music: PlayerSource | null = null;
  #musicLoading = false;
  readonly #playbacks = new Map<string, RoomPlayback>();
  #playbackList: RoomPlayback[] = [];
  readonly #virtuals = new Map<string, RoomVirtual>();
  #virtualList: RoomVirtual[] = [];
  #lastMixMs = Number.NEGATIVE_INFINITY;
  #ended = false;
  // metrics
  readonly lateHistogram = new Uint32Array(LATE_BUCKETS + 1);
  mixes = 0;
  mixCpuMs = 0;

  constructor(id: string, options: RoomOptions, host: RoomHost) {
    this.id = id;
    this.options = options;
    this.sampleRate = options.sampleRate;
    this.frameSamples = options.sampleRate / 50;
    this.#host = host;
    this.mixer = new Mixer({ frameSamples: this.frameSamples, loudestTalkers: options.loudestTalkers });
    this.musicFrame = new Int16Array(this.frameSamples);
    this.#toneChannel = this.mixer.add({ source: true });
    if (options.waitForModerator) this.#ensureMusic();
  }

  get ended(): boolean {
    return this.#ended;
  }

  get moderatorPresent(): boolean {
    for (const p of this.participants.values()) if (p.flags.moderator && !p.leaving) return true;
    return false;
  }

  // ---- membership ------------------------------------------------------------------------

  join(endpoint: RtpEndpoint, audio: EndpointAudio, flags: ParticipantFlags): Participant {
    if (this.#ended) throw new InvalidStateError('CONFERENCE_ENDED', `conference ${this.id} has ended`);
    const max = this.options.maxParticipants;
    if (max > 0 && this.participants.size >= max) {
      throw new InvalidStateError('CONFERENCE_FULL', `conference ${this.id} is full (max_participants ${max})`);
    }
    const channel = this.mixer.add();
    const p = new Participant(this, endpoint, audio, channel, flags);
    this.participants.set(p.endpointId, p);
    this.#list = [...this.participants.values()];
    this.#applyFlags(p);
    p.attach();
    this.#host.notify('conference.participant.joined', {
      conferenceId: this.id,
      endpointId: p.endpointId,
      moderator: flags.moderator,
      muted: flags.muted,
      deaf: flags.deaf,
      state: p.state,
    });
    if (flags.moderator) this.#moderatorsChanged();
    if (this.options.entryTone && p.state === 'active') this.#playTone(ENTRY_TONE);
    return p;
  }

  update(p: Participant, changes: Partial<ParticipantFlags>): void {
    const f = p.flags;
    const before = { muted: f.muted, deaf: f.deaf, hold: f.hold, moderator: f.moderator, state: p.state };
    if (changes.muted !== undefined) f.muted = changes.muted;
    if (changes.deaf !== undefined) f.deaf = changes.deaf;
    if (changes.hold !== undefined) f.hold = changes.hold;
    if (changes.moderator !== undefined) f.moderator = changes.moderator;
    if (changes.gainDb !== undefined) f.gainDb = changes.gainDb;
    if (changes.outputGainDb !== undefined) f.outputGainDb = changes.outputGainDb;
    this.#applyFlags(p);
    if (f.moderator !== before.moderator) this.#moderatorsChanged();
    if (
      f.muted !== before.muted ||
      f.deaf !== before.deaf ||
      f.hold !== before.hold ||
      f.moderator !== before.moderator ||
      p.state !== before.state
    ) {
      this.#notifyUpdated(p);
    }
  }

  /** Removes a participant; the conference may end (moderator left). Idempotent. */
  leave(p: Participant, reason: LeaveReason): void {
    if (this.participants.get(p.endpointId) !== p) return;
    this.participants.delete(p.endpointId);
    this.#list = [...this.participants.values()];
    p.detachFromEndpoint();
    this.mixer.remove(p.channel);
    this.#host.onParticipantLeft(p);
    this.#host.notify('conference.participant.left', { conferenceId: this.id, endpointId: p.endpointId, reason });
    if (reason === 'ended') return;
    if (this.options.exitTone && p.state === 'active') this.#playTone(EXIT_TONE);
    if (p.flags.moderator) {
      if (this.options.endOnModeratorLeave && !this.moderatorPresent) {
        this.end('moderator_left');
        return;
      }
      this.#moderatorsChanged();
    }
  }

  onParticipantClosed(p: Participant): void {
    this.leave(p, 'hangup');
  }

  /** Ends the conference: every participant leaves with 'ended', playbacks stop. Idempotent. */
  end(reason: Exclude<ConferenceEndReason, 'worker_died'>): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const p of [...this.participants.values()]) this.leave(p, 'ended');
    for (const pb of [...this.#playbacks.values()]) this.stopPlayback(pb.id);
    for (const v of [...this.#virtuals.values()]) {
      this.removeVirtual(v.member.id);
      v.member.onRoomEnded();
    }
    this.#music?.detach?.('closed');
    this.#music = null;
    this.taps.clear();
    this.#host.onRoomEnded(this);
    this.#host.notify('conference.ended', { conferenceId: this.id, reason });
  }

  #applyFlags(p: Participant): void {
    const f = p.flags;
    const waiting = this.options.waitForModerator && !f.moderator && !this.moderatorPresent;
    p.state = f.hold ? 'held' : waiting ? 'waiting' : 'active';
    const ch = p.channel;
    ch.muted = f.muted || p.state !== 'active';
    ch.deaf = f.deaf || p.state !== 'active';
    ch.setInputGainDb(f.gainDb);
    ch.setOutputGainDb(f.outputGainDb);
    if (p.state !== 'active') this.#ensureMusic();
  }

  /** Moderator presence changed: waiting members go live, or back to waiting. */
  #moderatorsChanged(): void {
    if (!this.options.waitForModerator) return;
    for (const p of this.participants.values()) {
      const before = p.state;
      this.#applyFlags(p);
      if (p.state !== before) this.#notifyUpdated(p);
    }
  }

  #notifyUpdated(p: Participant): void {
    const f = p.flags;
    this.#host.notify('conference.participant.updated', {
      conferenceId: this.id,
      endpointId: p.endpointId,
      muted: f.muted,
      deaf: f.deaf,
      hold: f.hold,
      moderator: f.moderator,
      state: p.state,
    });
  }

  #playTone(spec: ToneSpec): void {
    this.#tone = new ToneGenerator(spec, this.sampleRate);
  }

  #ensureMusic(): void {
    if (this.#music !== null || this.#musicLoading || this.#ended) return;
    this.#musicLoading = true;
    this.#host.loadMusic(this.options.holdMusic, this.sampleRate).then(
      (music) => {
        this.#musicLoading = false;
        if (music === null) return;
        if (this.#ended) music.detach?.('closed');
        else this.#music = music;
      },
      () => {
        this.#musicLoading = false;
      },
    );
  }

  // ---- virtual members ----------------------------------------------------------------------

  /** Adds a member with no endpoint (see VirtualMember); it does not count toward max_participants. */
  addVirtual(member: VirtualMember): void {
    if (this.#ended) throw new InvalidStateError('CONFERENCE_ENDED', `conference ${this.id} has ended`);
    if (this.#virtuals.has(member.id)) throw new InvalidStateError('MEMBER_EXISTS', `member ${member.id} exists`);
    const channel = this.mixer.add();
    // Listen-only: never in anyone's mix (its channel still hears everyone).
    channel.muted = member.source === null;
    this.#virtuals.set(member.id, { member, channel });
    this.#virtualList = [...this.#virtuals.values()];
  }

  /** Removes a virtual member (idempotent); returns whether it was there. */
  removeVirtual(id: string): boolean {
    const v = this.#virtuals.get(id);
    if (v === undefined) return false;
    this.#virtuals.delete(id);
    this.#virtualList = [...this.#virtuals.values()];
    this.mixer.remove(v.channel);
    return true;
  }

  get virtualIds(): string[] {
    return [...this.#virtuals.keys()];
  }

  // ---- playbacks into the conference -------------------------------------------------------

  /** Mixes `source` into the conference (everyone active hears it) until it ends or is stopped. */
  addPlayback(id: string, source: FrameSource): void {
    if (this.#ended) throw new InvalidStateError('CONFERENCE_ENDED', `conference ${this.id} has ended`);
    if (this.#playbacks.has(id)) throw new InvalidStateError('PLAYBACK_EXISTS', `playback ${id} exists`);
    this.#playbacks.set(id, { id, source, channel: this.mixer.add({ source: true }) });
    this.#playbackList = [...this.#playbacks.values()];
  }

  stopPlayback(id: string): boolean {
    const pb = this.#playbacks.get(id);
    if (pb === undefined) return false;
    this.#playbacks.delete(id);
    this.#playbackList = [...this.#playbacks.values()];
    this.mixer.remove(pb.channel);
    pb.source.detach?.('replaced');
    return true;
  }

  get playbackIds(): string[] {
    return [...this.#playbacks.keys()];
  }

  // ---- the media clock ----------------------------------------------------------------------

  onTick(nowMs: number): void {
    this.mixIfDue(nowMs);
  }

  /** One mix per tick: pull every participant's frame, mix, feed taps, report talkers. */
  mixIfDue(nowMs: number): void {
    if (nowMs === this.#lastMixMs || this.#ended) return;
    this.#lastMixMs = nowMs;
    const t0 = performance.now();
    const late = t0 - nowMs;
    const bucket = late <= 0 ? 0 : Math.min(LATE_BUCKETS, Math.floor(late * 10));
    this.lateHistogram[bucket]!++;
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      p.pull(nowMs);
      p.reattachIfFree();
    }
    const tone = this.#tone;
    const tch = this.#toneChannel;
    if (tone !== null) {
      const n = tone.generate(tch.input, 0, tch.input.length);
      if (n < tch.input.length) tch.input.fill(0, n);
      tch.hasInput = n > 0;
      if (tone.done) this.#tone = null;
    }
    const playbacks = this.#playbackList;
    for (let i = 0; i < playbacks.length; i++) {
      const pb = playbacks[i]!;
      const n = pb.source.fill(pb.channel.input, nowMs);
      pb.channel.hasInput = n > 0;
      if (n === 0) this.stopPlayback(pb.id); // finished: its player reports 'done'
    }
    const virtuals = this.#virtualList;
    for (let i = 0; i < virtuals.length; i++) {
      const v = virtuals[i]!;
      const src = v.member.source;
      v.channel.hasInput = src !== null && src.fill(v.channel.input, nowMs) > 0;
    }
    const music = this.#music;
    if (music !== null) {
      let needed = false;
      for (let i = 0; i < list.length; i++)
        if (list[i]!.state !== 'active') {
          needed = true;
          break;
        }
      if (needed && music.fill(this.musicFrame, nowMs) === 0) this.musicFrame.fill(0);
    }
    this.mixer.mix();
    for (const tap of this.taps) tap.onAudio(this.mixer.fullMix, this.sampleRate, 'out', nowMs, -1, 0);
    for (let i = 0; i < virtuals.length; i++) {
      const v = virtuals[i]!;
      v.member.onMix(v.channel.output, this.sampleRate, nowMs);
    }
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      if (p.channel.talkChanged) {
        this.#host.notify(p.channel.talking ? 'conference.talking.started' : 'conference.talking.stopped', {
          conferenceId: this.id,
          endpointId: p.endpointId,
        });
      }
    }
    this.mixes++;
    this.mixCpuMs += performance.now() - t0;
  }

  resetStats(): void {
    this.lateHistogram.fill(0);
    this.mixes = 0;
    this.mixCpuMs = 0;
  }

  /** Tick lateness (ms) at quantile q (0..1) from the histogram. */
  latenessQuantile(q: number): number {
    let total = 0;
    for (let i = 0; i <= LATE_BUCKETS; i++) total += this.lateHistogram[i]!;
    if (total === 0) return 0;
    const want = Math.ceil(total * q);
    let acc = 0;
    for (let i = 0; i <= LATE_BUCKETS; i++) {
      acc += this.lateHistogram[i]!;
      if (acc >= want) return (i + 1) / 10;
    }
    return LATE_BUCKETS / 10;
  }

  info(workerIndex: number): ConferenceInfo {
    const o = this.options;
    return {
      conferenceId: this.id,
      worker: workerIndex,
      sampleRate: o.sampleRate,
      maxParticipants: o.maxParticipants,
      loudestTalkers: o.loudestTalkers,
      entryTone: o.entryTone,
      exitTone: o.exitTone,
      waitForModerator: o.waitForModerator,
      endOnModeratorLeave: o.endOnModeratorLeave,
      createdAt: this.createdAt,
      participants: [...this.participants.values()].map((p) => participantInfo(p)),
      playbacks: this.playbackIds,
    };
  }
}

export function participantInfo(p: Participant): ParticipantInfo {
  const f = p.flags;
  const jb = p.jitterBuffer;
  const state: ParticipantState = p.state;
  return {
    endpointId: p.endpointId,
    state,
    muted: f.muted,
    deaf: f.deaf,
    moderator: f.moderator,
    hold: f.hold,
    talking: p.channel.talking,
    gainDb: f.gainDb,
    outputGainDb: f.outputGainDb,
    codec: p.codecName,
    joinedAt: p.joinedAt,
    jitterBuffer:
      jb === null
        ? null
        : {
            delayMs: Math.round(jb.targetDelayMs),
            late: jb.stats.late,
            lost: jb.stats.lost,
            concealed: jb.stats.concealed,
            duplicates: jb.stats.duplicates,
            discarded: jb.stats.discarded,
          },
  };
}
