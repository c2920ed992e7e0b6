import type { BotAudioQueue } from './BotAudioQueue.ts';

/** What a stream hears the audio of (calls `onAudio`/`onPeerAudio`) and plays its bot's audio to. */
export interface StreamListener {
  /** 'in': what the stream's subject says (the caller, the conference mix); 'out': what is sent to it. */
  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void;
  /** A bridge's other leg: what it says is the stream's `outbound` track. */
  onPeerAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void;
}

/**
 * Where a BotStream is attached: an endpoint (with a bridge's other leg) or a conference. The
 * stream itself only knows sockets, tracks and its bot's audio queue.
 */
export interface StreamTarget {
  /** The rate the bot's audio is played at (the queue's rate). */
  readonly sampleRate: number;
  /** Starts feeding `listener` and playing `queue` (null: listen-only). */
  attach(listener: StreamListener, queue: BotAudioQueue | null): void;
  /** Undoes attach (idempotent). */
  detach(listener: StreamListener, queue: BotAudioQueue | null): void;
}
