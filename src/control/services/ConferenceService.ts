import { randomUUID } from 'node:crypto';
import { InvalidStateError, MediaServerError, NotFoundError } from '../../common/errors.ts';
import type {
  ConferenceInfo,
  ConferenceNotifications,
  ConferenceRequests,
  ConferenceSettings,
  ParticipantChanges,
  ParticipantInfo,
  ParticipantState,
} from '../../protocol/index.ts';
import type { EventBus } from '../EventBus.ts';
import { wire } from '../events.ts';
import type { WorkerRequester } from './WorkerRequester.ts';

export type { ConferenceInfo, ParticipantChanges, ParticipantInfo, ParticipantState };

/** What the service needs from the MediaServer (a narrow interface, so tests can fake it). */
export interface ConferenceHost extends WorkerRequester {
  readonly events: Pick<EventBus, 'publish'>;
  hasEndpoint(id: string): boolean;
  workerOf(endpointId: string): number;
  workerForAffinity(affinity: string): number;
  /** Throws CapacityError 'DRAINING' while the server takes no new calls. */
  assertAdmitting(): void;
}

export interface CreateConferenceRequest extends ConferenceSettings {
  id?: string;
}

export interface AddParticipantRequest extends ParticipantChanges {
  endpointId: string;
}

/** Why a membership ended, for the flows (FlowEngines' LeaveResult): the worker's reasons, or 'stopped' on abort. */
export type MembershipEnd = 'left' | 'ended' | 'kicked' | 'hangup' | 'stopped';

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
  readonly #host: ConferenceHost;
  readonly #rooms = new Map<string, Room>();
  /** Flow memberships (join()) waiting for their end, by endpoint. */
  readonly #members = new Map<string, Set<Member>>();

  constructor(host: ConferenceHost) {
    this.#host = host;
  }

  /** The engine's `conference.*` notifications: state first, then the public event. */
  onNotification<T extends keyof ConferenceNotifications>(type: T, n: ConferenceNotifications[T]): void {
    const events = this.#host.events;
    switch (type) {
      case 'conference.created':
        events.publish(
          'conference.created',
          wire.conferenceCreated(n as ConferenceNotifications['conference.created']),
        );
        return;
      case 'conference.participant.joined':
        events.publish(
          'conference.participant.joined',
          wire.participantJoined(n as ConferenceNotifications['conference.participant.joined']),
        );
        return;
      case 'conference.participant.updated':
        events.publish(
          'conference.participant.updated',
          wire.participantUpdated(n as ConferenceNotifications['conference.participant.updated']),
        );
        return;
      case 'conference.talking.started':
      case 'conference.talking.stopped':
        events.publish(
          type as 'conference.talking.started',
          wire.talking(n as ConferenceNotifications['conference.talking.started']),
        );
        return;
      case 'conference.participant.left': {
        const left = n as ConferenceNotifications['conference.participant.left'];
        events.publish('conference.participant.left', wire.participantLeft(left));
        for (const m of this.#membersOf(left.endpointId)) if (m.room === left.conferenceId) m.finish(left.reason);
        return;
      }
      case 'conference.ended': {
        const ended = n as ConferenceNotifications['conference.ended'];
        this.#rooms.delete(ended.conferenceId);
        events.publish('conference.ended', wire.conferenceEnded(ended));
        this.#endMembers(ended.conferenceId);
        return;
      }
      default:
    }
  }

  /** The worker died: its conferences end ('worker_died'); no notification will come. */
  workerDied(workerIndex: number): void {
    for (const room of [...this.#rooms.values()]) {
      if (room.worker !== workerIndex) continue;
      this.#rooms.delete(room.id);
      this.#host.events.publish('conference.ended', { conference_id: room.id, reason: 'worker_died' });
      this.#endMembers(room.id);
    }
  }

  /** The endpoint is gone: a membership of it ends with 'hangup'. */
  endpointClosed(endpointId: string): void {
    for (const m of this.#membersOf(endpointId)) m.finish('hangup');
  }

  #membersOf(endpointId: string): Member[] {
    const set = this.#members.get(endpointId);
    return set === undefined ? [] : [...set];
  }

  #endMembers(conferenceId: string): void {
    for (const set of [...this.#members.values()])
      for (const m of [...set]) if (m.room === conferenceId) m.finish('ended');
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
    const { id: _id, ...settings } = req;
    // An option left undefined takes the engine's default, as one not given.
    const params: ConferenceRequests['conference.create']['params'] = { conferenceId: id, ...settings };
    // Claimed before the request so that two concurrent creates of one id cannot both succeed.
    this.#rooms.set(id, { id, worker });
    try {
      return await this.#host.request(worker, 'conference.create', params);
    } catch (err) {
      this.#rooms.delete(id);
      throw err;
    }
  }

  async get(id: string): Promise<ConferenceInfo> {
    const room = this.#room(id);
    return this.#host.request(room.worker, 'conference.get', { conferenceId: id });
  }

  async list(): Promise<ConferenceInfo[]> {
    const workers = [...new Set([...this.#rooms.values()].map((r) => r.worker))].sort((a, b) => a - b);
    const lists = await Promise.all(workers.map((w) => this.#host.request(w, 'conference.list', {})));
    return lists.flat().filter((c) => this.#rooms.has(c.conferenceId));
  }

  /** Ends the conference: every participant leaves with reason 'ended'. */
  async delete(id: string): Promise<void> {
    const room = this.#room(id);
    try {
      await this.#host.request(room.worker, 'conference.destroy', { conferenceId: id });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    this.#rooms.delete(id);
  }

  async addParticipant(id: string, req: AddParticipantRequest): Promise<ParticipantInfo> {
    const room = this.#room(id);
    if (!this.#host.hasEndpoint(req.endpointId))
      throw new NotFoundError('ENDPOINT_NOT_FOUND', `no endpoint ${req.endpointId}`);
    const worker = this.#host.workerOf(req.endpointId);
    if (worker !== room.worker) {
      throw new InvalidStateError(
        'CONFERENCE_WORKER_MISMATCH',
        `endpoint ${req.endpointId} is on media worker ${worker} but conference ${id} is on worker ${room.worker}: ` +
          `create participant endpoints with affinity "${id}" (the conference id) so they land on the conference's worker`,
      );
    }
    return this.#host.request(room.worker, 'conference.join', { conferenceId: id, ...req });
  }

  async updateParticipant(id: string, endpointId: string, changes: ParticipantChanges): Promise<ParticipantInfo> {
    const room = this.#room(id);
    return this.#host.request(room.worker, 'conference.update', { conferenceId: id, endpointId, ...changes });
  }

  /** Kicks (default) or lets a participant leave; its endpoint stays open. */
  async removeParticipant(id: string, endpointId: string, reason: 'kicked' | 'left' = 'kicked'): Promise<void> {
    const room = this.#room(id);
    await this.#host.request(room.worker, 'conference.leave', { conferenceId: id, endpointId, reason });
  }

  /** Plays media into the conference (everyone active hears it); finishes with playback.finished. */
  async play(
    id: string,
    media: string[],
    opts: { playbackId?: string; loop?: number | boolean } = {},
  ): Promise<{ playbackId: string; conferenceId: string }> {
    const room = this.#room(id);
    const playbackId = opts.playbackId ?? randomUUID();
    const params: ConferenceRequests['conference.play']['params'] = { conferenceId: id, playbackId, media };
    if (opts.loop !== undefined) params.loop = opts.loop;
    return this.#host.request(room.worker, 'conference.play', params);
  }

  async stopPlay(id: string, playbackId: string): Promise<void> {
    const room = this.#room(id);
    await this.#host.request(room.worker, 'conference.stopPlay', { conferenceId: id, playbackId });
  }

  /**
   * The flows' `conference` step: joins `room` (created with defaults if it does not exist) and
   * resolves when the endpoint leaves it: left, kicked, hangup (endpoint closed) or ended; with
   * 'stopped' when `signal` aborts (the participant is then removed).
   */
  async join(
    endpointId: string,
    room: string,
    opts: JoinOptions | Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<{ reason: MembershipEnd }> {
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
    let settle: (r: { reason: MembershipEnd }) => void = () => {};
    const done = new Promise<{ reason: MembershipEnd }>((resolve) => {
      settle = resolve;
    });
    const member: Member = { room, finish: (reason) => finish(reason) };
    let members = this.#members.get(endpointId);
    if (members === undefined) {
      members = new Set();
      this.#members.set(endpointId, members);
    }
    members.add(member);
    const unsubscribe = (): void => {
      const set = this.#members.get(endpointId);
      set?.delete(member);
      if (set?.size === 0) this.#members.delete(endpointId);
    };
    let finished = false;
    const finish = (reason: MembershipEnd): void => {
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

  /** Nothing to release: conferences end with their workers. */
  close(): void {}
}

interface Member {
  room: string;
  finish(reason: MembershipEnd): void;
}
