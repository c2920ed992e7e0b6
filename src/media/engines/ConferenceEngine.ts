import { InvalidStateError, NotFoundError, ValidationError } from '../../common/errors.ts';
import type {
  ConferenceInfo,
  ConferenceRequests,
  ConferenceSettings,
  ConferenceStats,
  Handlers,
  NotificationType,
  ParticipantChanges,
  ParticipantInfo,
  PlaybackFinished,
  WorkerNotifications,
} from '../../protocol/index.ts';
import type { FinishReason } from '../playback/Player.ts';
import type { AudioTap } from './EndpointAudio.ts';
import { dispatch, type MediaEngine, type WorkerContext } from './MediaEngine.ts';
import { ConferenceRoom, participantInfo, type RoomHost, type RoomOptions } from './conference/ConferenceRoom.ts';
import type { Participant, ParticipantFlags } from './conference/Participant.ts';
import type { PlayerSource } from './playback/PlayerSource.ts';
import { preparePlayer, sharedPlaybackResources, type PlaybackResources } from './playback/playbackResources.ts';
import type { RtpEndpoint } from '../transport/RtpEndpoint.ts';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_MEDIA_ITEMS = 200;
export const DEFAULT_HOLD_MUSIC = 'prompt:hold-music';

const engines = new WeakMap<WorkerContext, ConferenceEngine>();

/**
 * The conference of this worker named `conferenceId`, for other engines of the worker: a
 * recorder adds an AudioTap to `room.taps` (it hears the full mix at `room.sampleRate`, direction
 * 'out', once per tick); a player is mixed in with `room.addPlayback(id, frameSource)`.
 */
export function findConference(ctx: WorkerContext, conferenceId: string): ConferenceRoom | undefined {
  return engines.get(ctx)?.room(conferenceId);
}

// The control plane is typed, but the worker still checks the values it is handed.
function id(v: unknown, key: string): string {
  if (typeof v !== 'string' || !ID.test(v))
    throw new ValidationError('VALIDATION_ERROR', `${key} must be an id of 1..128 [A-Za-z0-9_.:-]`);
  return v;
}

function bool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ValidationError('VALIDATION_ERROR', `${key} must be a boolean`);
  return v;
}

function int(v: unknown, key: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ValidationError('VALIDATION_ERROR', `${key} must be an integer in [${min}, ${max}]`);
  return v;
}

function db(v: unknown, key: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < -60 || v > 24)
    throw new ValidationError('VALIDATION_ERROR', `${key} must be a number of dB in [-60, 24]`);
  return v;
}

/** Boolean flags and gains of a join or update request; only those given. */
function flagChanges(p: ParticipantChanges): Partial<ParticipantFlags> {
  const out: Partial<ParticipantFlags> = {};
  for (const k of ['muted', 'deaf', 'moderator', 'hold'] as const) {
    if (p[k] !== undefined) out[k] = bool(p[k], k, false);
  }
  const g = db(p.gainDb, 'gainDb');
  if (g !== undefined) out.gainDb = g;
  const og = db(p.outputGainDb, 'outputGainDb');
  if (og !== undefined) out.outputGainDb = og;
  return out;
}

/**
 * Conferences of a media worker (`conference.*` requests). A conference lives on one worker
 * and so must every participant's endpoint: the control plane places a conference by
 * `workerForAffinity(conferenceId)`, and callers create participant endpoints with
 * `affinity = conferenceId`.
 *
 * Methods: create, destroy, get, list, join, update, leave, play, stopPlay.
 * Notifications: `conference.created`, `conference.participant.joined/left/updated`,
 * `conference.talking.started/stopped`, `conference.ended`; playbacks into a conference report
 * `playback.started/finished {playbackId, conferenceId, reason}` like endpoint playbacks.
 */
export class ConferenceEngine implements MediaEngine<ConferenceRequests>, RoomHost {
  readonly #ctx: WorkerContext;
  readonly #rooms = new Map<string, ConferenceRoom>();
  /** endpoint id -> its room (an endpoint is in at most one conference). */
  readonly #byEndpoint = new Map<string, ConferenceRoom>();
  #resources: PlaybackResources | undefined;
  readonly #counters = { created: 0, ended: 0, joined: 0, left: 0 };
  // mixes and mixing CPU of ended rooms (and of stats windows reset), so the metrics' counters never go down
  #endedMixes = 0;
  #endedMixCpuMs = 0;
  #closed = false;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
    engines.set(ctx, this);
  }

  room(conferenceId: string): ConferenceRoom | undefined {
    return this.#rooms.get(conferenceId);
  }

  #room(params: { conferenceId: string }): ConferenceRoom {
    if (this.#closed) throw new InvalidStateError('WORKER_CLOSING', 'the media worker is shutting down');
    const cid = id(params.conferenceId, 'conferenceId');
    const room = this.#rooms.get(cid);
    if (room === undefined) throw new NotFoundError('CONFERENCE_NOT_FOUND', `no conference ${cid}`);
    return room;
  }

  #participant(room: ConferenceRoom, params: { endpointId: string }): Participant {
    const eid = id(params.endpointId, 'endpointId');
    const p = room.participants.get(eid);
    if (p === undefined)
      throw new NotFoundError('PARTICIPANT_NOT_FOUND', `endpoint ${eid} is not in conference ${room.id}`);
    return p;
  }

  get #playback(): PlaybackResources {
    this.#resources ??= sharedPlaybackResources(this.#ctx.settings);
    return this.#resources;
  }

  readonly handlers: Handlers<ConferenceRequests> = {
    'conference.create': (p) => this.create(this.#open(p)),
    'conference.destroy': (p) => {
      this.#room(p).end('deleted');
      return {};
    },
    'conference.get': (p) => this.#room(p).info(this.#ctx.workerIndex),
    'conference.list': (p) => {
      this.#open(p);
      return [...this.#rooms.values()].map((r) => r.info(this.#ctx.workerIndex));
    },
    'conference.join': (p) => this.join(p),
    'conference.update': (params) => {
      const room = this.#room(params);
      const p = this.#participant(room, params);
      room.update(p, flagChanges(params));
      return participantInfo(p);
    },
    'conference.leave': (params) => {
      const room = this.#room(params);
      const p = this.#participant(room, params);
      room.leave(p, params.reason === 'left' ? 'left' : 'kicked');
      return {};
    },
    'conference.play': (p) => this.play(p),
    'conference.stats': (p) => this.stats(this.#open(p).reset === true),
    'conference.stopPlay': (params) => {
      const room = this.#room(params);
      const pid = id(params.playbackId, 'playbackId');
      if (!room.stopPlayback(pid))
        throw new NotFoundError('PLAYBACK_NOT_FOUND', `no playback ${pid} in conference ${room.id}`);
      return {};
    },
  };

  /** Calls one request's handler (direct callers and tests). */
  handle<M extends keyof ConferenceRequests>(method: M, params: ConferenceRequests[M]['params']) {
    return dispatch(this.handlers, method, params);
  }

  /** Refuses requests once the worker shuts down; returns the params. */
  #open<P>(params: P): P {
    if (this.#closed) throw new InvalidStateError('WORKER_CLOSING', 'the media worker is shutting down');
    return params;
  }

  create(params: { conferenceId: string } & ConferenceSettings): ConferenceInfo {
    const cid = id(params.conferenceId, 'conferenceId');
    if (this.#rooms.has(cid)) throw new InvalidStateError('CONFERENCE_EXISTS', `conference ${cid} exists`);
    const rate = int(params.sampleRate, 'sampleRate', 8000, 8000, 48000);
    if (rate !== 8000 && rate !== 16000 && rate !== 48000)
      throw new ValidationError('VALIDATION_ERROR', 'sampleRate must be 8000, 16000 or 48000');
    const holdMusic: unknown = params.holdMusic === undefined ? DEFAULT_HOLD_MUSIC : params.holdMusic;
    if (typeof holdMusic !== 'string' || holdMusic.length === 0 || holdMusic.length > 1024)
      throw new ValidationError('VALIDATION_ERROR', 'holdMusic must be a media item');
    const options: RoomOptions = {
      sampleRate: rate,
      maxParticipants: int(params.maxParticipants, 'maxParticipants', 0, 0, 10_000),
      loudestTalkers: int(params.loudestTalkers, 'loudestTalkers', 0, 0, 10_000),
      entryTone: bool(params.entryTone, 'entryTone', true),
      exitTone: bool(params.exitTone, 'exitTone', true),
      waitForModerator: bool(params.waitForModerator, 'waitForModerator', false),
      endOnModeratorLeave: bool(params.endOnModeratorLeave, 'endOnModeratorLeave', false),
      holdMusic,
    };
    const room = new ConferenceRoom(cid, options, this);
    this.#rooms.set(cid, room);
    this.#ctx.clock.add(room);
    this.#counters.created++;
    this.notify('conference.created', { conferenceId: cid, worker: this.#ctx.workerIndex, sampleRate: rate });
    return room.info(this.#ctx.workerIndex);
  }

  join(params: ConferenceRequests['conference.join']['params']): ParticipantInfo {
    const room = this.#room(params);
    const eid = id(params.endpointId, 'endpointId');
    const other = this.#byEndpoint.get(eid);
    if (other !== undefined)
      throw new InvalidStateError('ALREADY_IN_CONFERENCE', `endpoint ${eid} is already in conference ${other.id}`);
    let endpoint: RtpEndpoint;
    try {
      endpoint = this.#ctx.endpoint(eid);
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new InvalidStateError(
          'CONFERENCE_WORKER_MISMATCH',
          `endpoint ${eid} is not on media worker ${this.#ctx.workerIndex}, where conference ${room.id} lives: create participant endpoints with affinity = the conference id`,
        );
      }
      throw err;
    }
    if (endpoint.closed) throw new InvalidStateError('ENDPOINT_CLOSED', `endpoint ${eid} is closed`);
    if (endpoint.media === null)
      throw new InvalidStateError(
        'ENDPOINT_NOT_NEGOTIATED',
        `endpoint ${eid} has no negotiated media yet (send its remote SDP first)`,
      );
    if (endpoint.sink !== null)
      throw new InvalidStateError(
        'ENDPOINT_BRIDGED',
        `endpoint ${eid} is bridged; unbridge it before it joins a conference`,
      );
    const c = flagChanges(params);
    const flags: ParticipantFlags = {
      muted: c.muted ?? false,
      deaf: c.deaf ?? false,
      moderator: c.moderator ?? false,
      hold: c.hold ?? false,
      gainDb: c.gainDb ?? 0,
      outputGainDb: c.outputGainDb ?? 0,
    };
    const p = room.join(endpoint, this.#ctx.audio(eid), flags);
    this.#byEndpoint.set(eid, room);
    this.#counters.joined++;
    return participantInfo(p);
  }

  async play(
    params: ConferenceRequests['conference.play']['params'],
  ): Promise<{ playbackId: string; conferenceId: string }> {
    const room = this.#room(params);
    const pid = id(params.playbackId, 'playbackId');
    const media: unknown = params.media;
    if (
      !Array.isArray(media) ||
      media.length === 0 ||
      media.length > MAX_MEDIA_ITEMS ||
      !media.every((m) => typeof m === 'string')
    ) {
      throw new ValidationError('INVALID_MEDIA', `media must be a list of 1..${MAX_MEDIA_ITEMS} strings`);
    }
    const loop: unknown = params.loop;
    if (loop !== undefined && typeof loop !== 'boolean' && !(typeof loop === 'number' && loop >= 0))
      throw new ValidationError('INVALID_PLAYBACK', 'loop must be a boolean or a count');
    const source = await preparePlayer(this.#playback, media, room.sampleRate, loop === undefined ? {} : { loop });
    if (room.ended) {
      source.detach('closed');
      throw new InvalidStateError('CONFERENCE_ENDED', `conference ${room.id} has ended`);
    }
    source.player.on('finished', (reason: FinishReason, info: { error?: Error; playedSamples: number }) => {
      room.stopPlayback(pid);
      const payload: PlaybackFinished = {
        playbackId: pid,
        conferenceId: room.id,
        reason,
        playedMs: Math.round((info.playedSamples * 1000) / room.sampleRate),
      };
      if (info.error !== undefined) payload.error = info.error.message;
      this.notify('playback.finished', payload);
    });
    room.addPlayback(pid, source);
    this.notify('playback.started', { playbackId: pid, conferenceId: room.id });
    return { playbackId: pid, conferenceId: room.id };
  }

  // ---- RoomHost ------------------------------------------------------------------------------

  notify<T extends NotificationType>(type: T, payload: WorkerNotifications[T]): void {
    this.#ctx.notify(type, payload);
  }

  async loadMusic(media: string, sampleRate: number): Promise<PlayerSource | null> {
    try {
      return await preparePlayer(this.#playback, [media], sampleRate, { loop: true });
    } catch {
      return null; // no music file: members wait in silence
    }
  }

  onRoomEnded(room: ConferenceRoom): void {
    if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
    this.#ctx.clock.delete(room);
    this.#counters.ended++;
    this.#endedMixes += room.mixes;
    this.#endedMixCpuMs += room.mixCpuMs;
  }

  onParticipantLeft(p: Participant): void {
    this.#byEndpoint.delete(p.endpointId);
    this.#counters.left++;
  }

  // ---- MediaEngine ---------------------------------------------------------------------------

  onEndpointClosed(endpointId: string): void {
    const room = this.#byEndpoint.get(endpointId);
    const p = room?.participants.get(endpointId);
    if (room !== undefined && p !== undefined) room.leave(p, 'hangup');
  }

  metrics(): Record<string, number> {
    let participants = 0;
    let mixes = this.#endedMixes;
    let cpu = this.#endedMixCpuMs;
    let p99 = 0;
    for (const room of this.#rooms.values()) {
      participants += room.participants.size;
      mixes += room.mixes;
      cpu += room.mixCpuMs;
      p99 = Math.max(p99, room.latenessQuantile(0.99));
    }
    return {
      conferences: this.#rooms.size,
      participants,
      created: this.#counters.created,
      ended: this.#counters.ended,
      joined: this.#counters.joined,
      left: this.#counters.left,
      mixes,
      mixCpuMs: Math.round(cpu * 1000) / 1000,
      tickLateP99Ms: p99,
    };
  }

  /**
   * Worker-wide conference statistics for benchmarks and diagnostics: mixes, mixing CPU, tick
   * lateness quantiles over all rooms, jitter buffer totals; `reset` starts a new measurement.
   */
  stats(reset: boolean): ConferenceStats {
    const hist = new Uint32Array(1001);
    let mixes = 0;
    let cpu = 0;
    let participants = 0;
    const jb = { late: 0, lost: 0, concealed: 0, received: 0 };
    for (const room of this.#rooms.values()) {
      for (let i = 0; i < hist.length; i++) hist[i]! += room.lateHistogram[i]!;
      mixes += room.mixes;
      cpu += room.mixCpuMs;
      for (const p of room.participants.values()) {
        participants++;
        const s = p.jitterBuffer?.stats;
        if (s === undefined) continue;
        jb.late += s.late;
        jb.lost += s.lost;
        jb.concealed += s.concealed;
        jb.received += s.received;
      }
      if (reset) {
        this.#endedMixes += room.mixes;
        this.#endedMixCpuMs += room.mixCpuMs;
        room.resetStats();
      }
    }
    const quantile = (q: number): number => {
      let total = 0;
      for (const v of hist) total += v;
      if (total === 0) return 0;
      let acc = 0;
      for (let i = 0; i < hist.length; i++) {
        acc += hist[i]!;
        if (acc >= Math.ceil(total * q)) return (i + 1) / 10;
      }
      return 100;
    };
    return {
      conferences: this.#rooms.size,
      participants,
      mixes,
      mixCpuMs: cpu,
      tickLateP50Ms: quantile(0.5),
      tickLateP99Ms: quantile(0.99),
      tickLateMaxMs: quantile(1),
      jbReceived: jb.received,
      jbLate: jb.late,
      jbLost: jb.lost,
      jbConcealed: jb.concealed,
    };
  }

  /** Adds a tap hearing the full mix of a conference (see findConference); returns its remover. */
  addTap(conferenceId: string, tap: AudioTap): () => void {
    const room = this.#rooms.get(conferenceId);
    if (room === undefined) throw new NotFoundError('CONFERENCE_NOT_FOUND', `no conference ${conferenceId}`);
    room.taps.add(tap);
    return () => room.taps.delete(tap);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.end('shutdown');
    this.#resources?.close();
  }
}
