import type { ConferenceRoom, VirtualMember } from '../conference/ConferenceRoom.ts';
import type { BotAudioQueue } from './BotAudioQueue.ts';
import type { StreamListener, StreamTarget } from './StreamTarget.ts';

/**
 * A stream on a conference: the bot is a virtual participant of the room. Each tick it is handed
 * the mix a participant hears (everyone but itself) as its `inbound` track, and its paced queue is
 * the participant's voice (bidirectional), so everyone else hears the bot and the bot never hears
 * itself. `onEnded` runs when the conference ends under the stream.
 */
export class ConferenceTarget implements StreamTarget {
  readonly #room: ConferenceRoom;
  readonly #memberId: string;
  readonly #onEnded: () => void;

  constructor(room: ConferenceRoom, memberId: string, onEnded: () => void) {
    this.#room = room;
    this.#memberId = memberId;
    this.#onEnded = onEnded;
  }

  get sampleRate(): number {
    return this.#room.sampleRate;
  }

  attach(listener: StreamListener, queue: BotAudioQueue | null): void {
    const member: VirtualMember = {
      id: this.#memberId,
      source: queue,
      onMix: (pcm, rate, now) => listener.onAudio(pcm, rate, 'in', now),
      onRoomEnded: this.#onEnded,
    };
    this.#room.addVirtual(member);
  }

  detach(): void {
    this.#room.removeVirtual(this.#memberId);
  }
}
