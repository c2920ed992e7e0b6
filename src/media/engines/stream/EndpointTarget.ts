import type { AudioTap, EndpointAudio } from '../EndpointAudio.ts';
import type { BotAudioQueue } from './BotAudioQueue.ts';
import type { StreamListener, StreamTarget } from './StreamTarget.ts';

/**
 * A stream on an endpoint: taps its audio both ways, and plays the bot's queue as its outbound
 * source. For a bridge stream, the other leg's received audio is tapped too (the outbound track).
 */
export class EndpointTarget implements StreamTarget {
  readonly #audio: EndpointAudio;
  readonly #peer: EndpointAudio | null;
  #tap: AudioTap | null = null;
  #peerTap: AudioTap | null = null;

  constructor(audio: EndpointAudio, peer: EndpointAudio | null) {
    this.#audio = audio;
    this.#peer = peer;
  }

  get sampleRate(): number {
    return this.#audio.sampleRate;
  }

  attach(listener: StreamListener, queue: BotAudioQueue | null): void {
    this.#tap = { onAudio: (pcm, rate, direction, now) => listener.onAudio(pcm, rate, direction, now) };
    this.#audio.taps.add(this.#tap);
    if (this.#peer !== null) {
      this.#peerTap = { onAudio: (pcm, rate, direction, now) => listener.onPeerAudio(pcm, rate, direction, now) };
      this.#peer.taps.add(this.#peerTap);
    }
    if (queue !== null) this.#audio.setSource(queue, null);
  }

  detach(_listener: StreamListener, queue: BotAudioQueue | null): void {
    if (this.#tap !== null) this.#audio.taps.delete(this.#tap);
    if (this.#peerTap !== null) this.#peer?.taps.delete(this.#peerTap);
    this.#tap = null;
    this.#peerTap = null;
    if (queue !== null && this.#audio.source === queue) this.#audio.setSource(null);
  }
}
