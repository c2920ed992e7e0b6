import type { FrameSource } from '../EndpointAudio.ts';

/** A mark from the bot: acknowledged once the audio queued before it has been played. */
interface PendingMark {
  name: string;
  /** Absolute sample position (samples ever queued) the mark follows. */
  at: number;
}

/** Counters the stream reports (StreamStats). */
export interface BotQueueStats {
  playedSamples: number;
  overruns: number;
  overrunSamples: number;
  marksAcknowledged: number;
  clears: number;
  /** Samples dropped to stay on time when the media clock skipped ticks (an overloaded worker). */
  skippedSamples: number;
}

/**
 * The bot's audio on its way to the caller: a bounded ring of PCM at the endpoint's rate, filled
 * as fast as the bot sends (faster than real time, a whole utterance at once) and drained one
 * frame per media clock tick as the endpoint's outbound source, so the bot's audio is paced by
 * the clock and the RTP stream keeps its SSRC, sequence and timestamps (EndpointAudio stamps it).
 *
 * Bounded: audio that does not fit is dropped and counted (an overrun), never grown into.
 * Marks (Twilio Media Streams `mark`) are acknowledged through `onMark` one tick after the last
 * sample before them went out, i.e. once that audio has been sent to the caller; `clear()` drops
 * what is queued at once and acknowledges every pending mark, as Twilio does.
 *
 * While attached it never ends: with nothing queued it sends silence (the bot holds the line).
 */
export class BotAudioQueue implements FrameSource {
  readonly sampleRate: number;
  readonly #ring: Int16Array;
  readonly #mask: number;
  /** Samples ever written and ever read (absolute positions; the ring index is `& mask`). */
  #written = 0;
  #read = 0;
  readonly #capacity: number;
  readonly #marks: PendingMark[] = [];
  readonly #onMark: (name: string) => void;
  readonly stats: BotQueueStats = {
    playedSamples: 0,
    overruns: 0,
    overrunSamples: 0,
    marksAcknowledged: 0,
    clears: 0,
    skippedSamples: 0,
  };
  /** The clock time of the previous fill(), -1 before the first. */
  #lastFillMs = -1;

  /** `maxSamples` bounds the queue (rounded up to a power of two for the ring). */
  constructor(sampleRate: number, maxSamples: number, onMark: (name: string) => void) {
    this.sampleRate = sampleRate;
    let size = 1024;
    while (size < maxSamples) size *= 2;
    this.#ring = new Int16Array(size);
    this.#mask = size - 1;
    this.#capacity = maxSamples;
    this.#onMark = onMark;
  }

  /** Samples waiting to be played. */
  get queued(): number {
    return this.#written - this.#read;
  }

  /** Queues `pcm` (at `sampleRate`); what does not fit is dropped and counted. Returns samples queued. */
  push(pcm: Int16Array, length = pcm.length): number {
    const room = this.#capacity - this.queued;
    let n = length;
    if (n > room) {
      this.stats.overruns++;
      this.stats.overrunSamples += n - Math.max(0, room);
      n = Math.max(0, room);
    }
    const ring = this.#ring;
    const mask = this.#mask;
    let w = this.#written;
    for (let i = 0; i < n; i++) ring[w++ & mask] = pcm[i]!;
    this.#written = w;
    return n;
  }

  /** A mark after the audio queued so far; with nothing pending before it, acknowledged on the next tick. */
  mark(name: string): void {
    this.#marks.push({ name, at: this.#written });
  }

  /** Drops the queued audio now (barge-in) and acknowledges every pending mark. */
  clear(): void {
    this.stats.clears++;
    this.#read = this.#written;
    this.#ackUpTo(Number.POSITIVE_INFINITY);
  }

  fill(out: Int16Array, nowMs: number): number {
    // An overloaded worker's clock skips ticks (more than 100 ms late): the audio of the skipped
    // time is dropped, else every skip would add its length to the bot's latency for good (a bot
    // that answers in real time never lets the queue drain).
    const last = this.#lastFillMs;
    this.#lastFillMs = nowMs;
    if (last >= 0) {
      const frameMs = (out.length * 1000) / this.sampleRate;
      const gapMs = nowMs - last - frameMs;
      if (gapMs >= frameMs / 2) {
        const skip = Math.min(this.queued, Math.round((gapMs * this.sampleRate) / 1000));
        this.#read += skip;
        this.stats.skippedSamples += skip;
      }
    }
    // What earlier ticks handed out has been sent by now: acknowledge the marks it passed.
    if (this.#marks.length > 0) this.#ackUpTo(this.#read);
    const ring = this.#ring;
    const mask = this.#mask;
    const avail = this.#written - this.#read;
    const n = Math.min(out.length, avail);
    let r = this.#read;
    for (let i = 0; i < n; i++) out[i] = ring[r++ & mask]!;
    this.#read = r;
    if (n < out.length) out.fill(0, n);
    this.stats.playedSamples += n;
    return out.length;
  }

  #ackUpTo(position: number): void {
    const marks = this.#marks;
    let k = 0;
    while (k < marks.length && marks[k]!.at <= position) k++;
    if (k === 0) return;
    const done = marks.splice(0, k);
    for (const m of done) {
      this.stats.marksAcknowledged++;
      this.#onMark(m.name);
    }
  }

  /** The stream ends: marks still pending are dropped unacknowledged (the bot is told `stop`). */
  detach(): void {
    this.#marks.length = 0;
  }
}
