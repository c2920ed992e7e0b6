import { DtmfGenerator } from '../../dtmf/DtmfGenerator.ts';
import type { Player, PlayerAction } from '../../playback/Player.ts';
import type { FrameSource } from '../EndpointAudio.ts';

/** Silence after each in-band digit of a `digits:` item in DTMF mode (ITU-T Q.24 asks >= 40 ms). */
const DIGIT_PAUSE_MS = 80;

/**
 * A Player as a FrameSource: what an endpoint (EndpointAudio.setSource) or a conference mixer
 * pulls one frame from per media clock tick. It carries out the player's actions itself:
 * `digits:` items in DTMF mode are played as in-band Q.23 tones (DtmfGenerator), which reach the
 * peer whatever it negotiated, then the player goes on with the next entry.
 *
 * `detach()` (the source was replaced, or its endpoint closed) stops the player with reason
 * 'stopped'. Hot path (fill): no allocation.
 */
export class PlayerSource implements FrameSource {
  readonly player: Player;
  readonly #dtmf: DtmfGenerator;
  /** The action whose tones are queued, so one action is queued once. */
  #queuedAction: PlayerAction | undefined;

  constructor(player: Player) {
    this.player = player;
    this.#dtmf = new DtmfGenerator({ sampleRate: player.sampleRate });
  }

  get sampleRate(): number {
    return this.player.sampleRate;
  }

  fill(out: Int16Array, _nowMs = 0): number {
    const player = this.player;
    if (player.state === 'finished') return 0;
    if (this.#queuedAction !== undefined) {
      if (player.paused) {
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
      this.#dtmf.queue(action.digits, action.durationMs, DIGIT_PAUSE_MS);
    }
    return n;
  }

  detach(_reason: 'replaced' | 'closed'): void {
    this.#dtmf.clear();
    this.#queuedAction = undefined;
    this.player.stop();
  }
}
