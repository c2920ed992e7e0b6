import { DtmfGenerator } from '../../dtmf/DtmfGenerator.ts';
import type { Player, PlayerAction } from '../../playback/Player.ts';
import type { FrameSource } from '../EndpointAudio.ts';

/** Silence after each in-band digit of a `digits:` item in DTMF mode (ITU-T Q.24 asks >= 40 ms). */
const DIGIT_PAUSE_MS = 80;

/**
 * A Player as a FrameSource: what an endpoint (EndpointAudio.setSource) or a conference mixer
 * pulls one frame from per media clock tick. It carries out the player's actions: `digits:` items
 * in DTMF mode go to the endpoint's DTMF engine when one is given (RFC 4733 events if the peer
 * negotiated telephone-event), else they are played here as in-band Q.23 tones (a conference
 * mix), then the player goes on with the next entry.
 *
 * `detach()` (the source was replaced, or its endpoint closed) stops the player with reason
 * 'stopped'. Hot path (fill): no allocation.
 */
export class PlayerSource implements FrameSource {
  readonly player: Player;
  readonly #dtmf: DtmfGenerator;
  /** The action whose tones are queued, so one action is queued once. */
  #queuedAction: PlayerAction | undefined;
  /** Sends digits through the endpoint's DTMF engine (RFC 4733 when negotiated); null: tones here. */
  #eventSender: ((digits: string, durationMs: number) => Promise<void>) | null = null;
  #sending = false;

  constructor(player: Player) {
    this.player = player;
    this.#dtmf = new DtmfGenerator({ sampleRate: player.sampleRate });
  }

  get sampleRate(): number {
    return this.player.sampleRate;
  }

  /** The player finished in the last fill(): its last frame went out (FrameSource.ended). */
  get ended(): boolean {
    return this.player.state === 'finished' && this.#queuedAction === undefined;
  }

  /**
   * Plays `digits:` items in DTMF mode through `send` (the endpoint's DTMF engine: RFC 4733
   * events when the peer negotiated telephone-event, else tones) instead of mixing tones here.
   * The player holds (silence) until they are sent.
   */
  useEventSender(send: (digits: string, durationMs: number) => Promise<void>): void {
    this.#eventSender = send;
  }

  fill(out: Int16Array, _nowMs = 0): number {
    const player = this.player;
    if (player.state === 'finished') return 0;
    if (this.#queuedAction !== undefined) {
      if (player.paused || this.#sending) {
        out.fill(0);
        return out.length;
      }
      if (this.#eventSender !== null) {
        // sent by the DTMF engine and done: go on with the next entry
        this.#queuedAction = undefined;
        player.completeAction();
        out.fill(0);
        return out.length;
      }
      this.#dtmf.fill(out);
      if (!this.#dtmf.busy) {
        this.#queuedAction = undefined;
        player.completeAction();
      }
      return out.length;
    }
    const n = player.fill(out);
    const action = player.pendingAction;
    if (action !== undefined && action.type === 'dtmf') {
      this.#queuedAction = action;
      const send = this.#eventSender;
      if (send === null) {
        this.#dtmf.queue(action.digits, action.durationMs, DIGIT_PAUSE_MS);
      } else {
        this.#sending = true;
        const done = () => {
          this.#sending = false;
        };
        send(action.digits, action.durationMs).then(done, done);
      }
    }
    return n;
  }

  detach(_reason: 'replaced' | 'closed'): void {
    this.#dtmf.clear();
    this.#queuedAction = undefined;
    this.#sending = false;
    this.player.stop();
  }
}
