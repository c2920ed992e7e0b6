import { randomUUID } from 'node:crypto';
import { InvalidStateError, MediaServerError, NotFoundError } from '../../common/errors.ts';
import type { ServerEvent } from '../types.ts';

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface ConferenceHost {
  readonly events: {
    subscribe(listener: (event: ServerEvent) => void): () => void;
    emit(type: string, payload?: Record<string, unknown>): unknown;
  };
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
  workerForAffinity(affinity: string): number;
  workerRequest<T = unknown>(workerIndex: number, method: string, params: Record<string, unknown>): Promise<T>;
  /** Throws CapacityError 'DRAINING' while the server takes no new calls. */
  assertAdmitting(): void;
}

export interface CreateConferenceRequest {
  id?: string;
  sampleRate?: 8000 | 16000 | 48000;
  maxParticipants?: number;
  loudestTalkers?: number;
  entryTone?: boolean;
  exitTone?: boolean;
  waitForModerator?: boolean;
  endOnModeratorLeave?: boolean;
  /** Media item looped to members waiting for a moderator or on hold (default prompt:hold-music). */
  holdMusic?: string;
}

export interface ParticipantChanges {
  muted?: boolean;
  deaf?: boolean;
  moderator?: boolean;
  hold?: boolean;
  gainDb?: number;
  outputGainDb?: number;
}

export interface AddParticipantRequest extends ParticipantChanges {
  endpointId: string;
}

export type ParticipantState = 'active' | 'waiting' | 'held';

export interface ParticipantInfo {
  endpointId: string;
  state: ParticipantState;
  muted: boolean;
  deaf: boolean;
  moderator: boolean;
  hold: boolean;
  talking: boolean;
  gainDb: number;
  outputGainDb: number;
  codec: string;
  joinedAt: string;
  jitterBuffer: { delayMs: number; late: number; lost: number; concealed: number; duplicates: number; discarded: number } | null;
}

export interface ConferenceInfo {
  conferenceId: string;
  worker: number;
  sampleRate: number;
  maxParticipants: number;
  loudestTalkers: number;
  entryTone: boolean;
  exitTone: boolean;
  waitForModerator: boolean;
  endOnModeratorLeave: boolean;
  createdAt: string;
  participants: ParticipantInfo[];
  playbacks: string[];
}

/** Why a membership ended, for the flows (FlowEngines' LeaveResult). */
export type LeaveReason = 'left' | 'ended' | 'kicked' | 'hangup' | 'stopped';

export interface JoinOptions extends ParticipantChanges {
  /** End the conference when this participant leaves. */
  endOnExit?: boolean;
}

interface Room {
  id: string;
  worker: number;
}

/**
 * Conferences on the control plane. A conference lives on one media worker, chosen by
 * `workerForAffinity(conferenceId)`; every participant's endpoint must live there too, which is
 * what creating participant endpoints with `affinity = <conference id>` gives (the B2BUA does
 * so). An endpoint elsewhere gets a 409 CONFERENCE_WORKER_MISMATCH naming the fix.
 *
 * The mixing itself is the media worker's ConferenceEngine (`conference.*` requests); this class
 * keeps the ids, routes requests, and offers `join()` to the flows: it resolves when the member
 * leaves (or is kicked, hangs up, or the conference ends) and honours an AbortSignal.
 */
export class ConferenceService {
  static readonly #byHost = new WeakMap<ConferenceHost, ConferenceService>();

  /** The one service of a MediaServer, created on first use (API routes and flows share it). */
  static of(host: ConferenceHost): ConferenceService {
    let service = ConferenceService.#byHost.get(host);
    if (service === undefined) {
      service = new ConferenceService(host);
      ConferenceService.#byHost.set(host, service);
    }
    return service;
  }

  readonly #host: ConferenceHost;
  readonly #rooms = new Map<string, Room>();
  readonly #unsubscribe: () => void;

  constructor(host: ConferenceHost) {
    this.#host = host;
    this.#unsubscribe = host.events.subscribe((e) => this.#onEvent(e));
  }

  #onEvent(e: ServerEvent): void {
    if (e.type === 'conference.ended' && typeof e.conference_id === 'string') {
      this.#rooms.delete(e.conference_id);
    } else if (e.type === 'worker.died') {
      for (const room of [...this.#rooms.values()]) {
        if (room.worker !== e.worker) continue;
        this.#rooms.delete(room.id);
        this.#host.events.emit('conference.ended', { conference_id: room.id, reason: 'worker_died' });
      }
    }
  }

  #room(id: string): Room {
    const room = this.#rooms.get(id);
    if (room === undefined) throw new NotFoundError('CONFERENCE_NOT_FOUND', `no conference ${id}`);
    return room;
  }

  has(id: string): boolean {
    return this.#rooms.has(id);
  }

  /** The worker a conference lives on (for engines that mix into it or record it). */
  workerOf(id: string): number {
    return this.#room(id).worker;
  }

  async create(req: CreateConferenceRequest = {}): Promise<ConferenceInfo> {
    this.#host.assertAdmitting();
    const id = req.id ?? randomUUID();
    if (this.#rooms.has(id)) throw new InvalidStateError('CONFERENCE_EXISTS', `conference ${id} exists`);
    const worker = this.#host.workerForAffinity(id);
    const params: Record<string, unknown> = { conferenceId: id };
    for (const [k, v] of Object.entries(req)) if (k !== 'id' && v !== undefined) params[k] = v;
    // Claimed before the request so that two concurrent creates of one id cannot both succeed.
    this.#rooms.set(id, { id, worker });
    try {
      return await this.#host.workerRequest<ConferenceInfo>(worker, 'conference.create', params);
    } catch (err) {
      this.#rooms.delete(id);
      throw err;
    }
  }

  async get(id: string): Promise<ConferenceInfo> {
    const room = this.#room(id);
    return this.#host.workerRequest<ConferenceInfo>(room.worker, 'conference.get', { conferenceId: id });
  }

  async list(): Promise<ConferenceInfo[]> {
    const workers = [...new Set([...this.#rooms.values()].map((r) => r.worker))].sort((a, b) => a - b);
    const lists = await Promise.all(workers.map((w) => this.#host.workerRequest<ConferenceInfo[]>(w, 'conference.list', {})));
    return lists.flat().filter((c) => this.#rooms.has(c.conferenceId));
  }

  /** Ends the conference: every participant leaves with reason 'ended'. */
  async delete(id: string): Promise<void> {
    const room = this.#room(id);
    try {
      await this.#host.workerRequest(room.worker, 'conference.destroy', { conferenceId: id });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    this.#rooms.delete(id);
  }

  async addParticipant(id: string, req: AddParticipantRequest): Promise<ParticipantInfo> {
    const room = this.#room(id);
    if (!this.#host.hasEndpoint(req.endpointId)) throw new NotFoundError('ENDPOINT_NOT_FOUND', `no endpoint ${req.endpointId}`);
    const worker = this.#host.workerOf(req.endpointId);
    if (worker !== room.worker) {
      throw new InvalidStateError('CONFERENCE_WORKER_MISMATCH',
        `endpoint ${req.endpointId} is on media worker ${worker} but conference ${id} is on worker ${room.worker}: ` +
        `create participant endpoints with affinity "${id}" (the conference id) so they land on the conference's worker`);
    }
    return this.#host.workerRequest<ParticipantInfo>(room.worker, 'conference.join', { conferenceId: id, ...req });
  }

  async updateParticipant(id: string, endpointId: string, changes: ParticipantChanges): Promise<ParticipantInfo> {
    const room = this.#room(id);
    return this.#host.workerRequest<ParticipantInfo>(room.worker, 'conference.update', { conferenceId: id, endpointId, ...changes });
  }

  /** Kicks (default) or lets a participant leave; its endpoint stays open. */
  async removeParticipant(id: string, endpointId: string, reason: 'kicked' | 'left' = 'kicked'): Promise<void> {
    const room = this.#room(id);
    await this.#host.workerRequest(room.worker, 'conference.leave', { conferenceId: id, endpointId, reason });
  }

  /** Plays media into the conference (everyone active hears it); finishes with playback.finished. */
  async play(id: string, media: string[], opts: { playbackId?: string; loop?: number | boolean } = {}): Promise<{ playbackId: string; conferenceId: string }> {
    const room = this.#room(id);
    const playbackId = opts.playbackId ?? randomUUID();
    const params: Record<string, unknown> = { conferenceId: id, playbackId, media };
    if (opts.loop !== undefined) params.loop = opts.loop;
    return this.#host.workerRequest(room.worker, 'conference.play', params);
  }

  async stopPlay(id: string, playbackId: string): Promise<void> {
    const room = this.#room(id);
    await this.#host.workerRequest(room.worker, 'conference.stopPlay', { conferenceId: id, playbackId });
  }

  /**
   * The flows' `conference` step: joins `room` (created with defaults if it does not exist) and
   * resolves when the endpoint leaves it: left, kicked, hangup (endpoint closed) or ended; with
   * 'stopped' when `signal` aborts (the participant is then removed).
   */
  async join(endpointId: string, room: string, opts: JoinOptions | Record<string, unknown>, signal: AbortSignal): Promise<{ reason: LeaveReason }> {
    if (signal.aborted) return { reason: 'stopped' };
    const o = opts as JoinOptions;
    if (!this.#rooms.has(room)) {
      try {
        await this.create({ id: room });
      } catch (err) {
        if (!(err instanceof MediaServerError && err.code === 'CONFERENCE_EXISTS')) throw err;
      }
      // Aborted while the room was created: the abort listener below would never fire.
      if (signal.aborted) return { reason: 'stopped' };
    }
    let settle: (r: { reason: LeaveReason }) => void = () => {};
    const done = new Promise<{ reason: LeaveReason }>((resolve) => { settle = resolve; });
    const unsubscribe = this.#host.events.subscribe((e) => {
      if (e.type === 'conference.participant.left' && e.endpoint_id === endpointId && e.conference_id === room) {
        const r = e.reason;
        finish(r === 'kicked' || r === 'ended' || r === 'hangup' || r === 'left' ? r : 'left');
      } else if (e.type === 'endpoint.deleted' && e.endpoint_id === endpointId) {
        finish('hangup');
      } else if (e.type === 'conference.ended' && e.conference_id === room) {
        finish('ended');
      }
    });
    let finished = false;
    const finish = (reason: LeaveReason): void => {
      if (finished) return;
      finished = true;
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
      if (o.endOnExit === true && reason !== 'ended' && this.#rooms.has(room)) this.delete(room).catch(() => {});
      settle({ reason });
    };
    const onAbort = (): void => {
      this.removeParticipant(room, endpointId, 'left').catch(() => {});
      finish('stopped');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const req: AddParticipantRequest = { endpointId };
    for (const k of ['muted', 'deaf', 'moderator', 'hold'] as const) if (typeof o[k] === 'boolean') req[k] = o[k];
    for (const k of ['gainDb', 'outputGainDb'] as const) if (typeof o[k] === 'number') req[k] = o[k];
    try {
      await this.addParticipant(room, req);
    } catch (err) {
      if (!finished) {
        finished = true;
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      }
      throw err;
    }
    // Aborted while the join was in flight: the leave sent then found nobody.
    if (signal.aborted) this.removeParticipant(room, endpointId, 'left').catch(() => {});
    return done;
  }

  close(): void {
    this.#unsubscribe();
  }
}
