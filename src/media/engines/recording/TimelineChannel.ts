import { Resampler } from '../../dsp/Resampler.ts';

/**
 * A stream that sent nothing for this long counts as paused: its place is written as silence
 * (ms). A recording is not a real-time listener: it can wait out a loaded machine's stalls.
 */
export const STREAM_WAIT_MS = 1000;
/** A chunk placed further ahead of its arrival than this is a timestamp jump: re-based (ms). */
const MAX_AHEAD_MS = 500;
/** Ring length (ms): the wait plus the furthest a chunk may sit ahead, with room to spare. */
const RING_MS = 2500;

/**
 * One channel of a recording as a timeline: audio is written at its place in the file and read
 * out one frame at a time, so what arrives when has no effect on where it lands.
 *
 * - A received stream ('stream' kind) is placed by RTP timestamp: its first chunk is anchored
 *   where it arrived (recording time, one chunk back), every later chunk at the anchor plus its
 *   timestamp offset. Nothing is inserted or dropped while the sender's timeline is continuous.
 *   The anchor moves ("re-based") only when that is impossible: a new sender (epoch), a
 *   timestamp jump far from the arrival time, or a stream that keeps arriving after its place was
 *   written out (its delay grew by more than STREAM_WAIT_MS; a single late burst is dropped).
 * - Generated audio ('clock' kind: what we sent, a conference mix) is placed by the media clock
 *   tick that produced it.
 *
 * A frame can be read once every channel has it final (ready()): a stream channel once audio up
 * to its end was written, or once the stream stayed silent STREAM_WAIT_MS past it (paused,
 * DTX, or so late that it is recorded as silence); a clock channel once its tick has passed.
 * Unwritten places read as silence. Allocation-free after construction (the resampler is made
 * when a leg's rate first differs).
 */
export class TimelineChannel {
  readonly rate: number;
  readonly kind: 'stream' | 'clock';
  readonly frameSamples: number;
  readonly #ring: Int16Array;
  #originMs = 0;
  /** Samples read out so far (the file position of this channel). */
  #emitted = 0;
  /** End of the furthest audio written (-1: none yet). */
  #written = -1;
  #epoch = -1;
  #offset = 0;
  #next = 0;
  #expect = -1;
  /** Samples of the stream in a row that arrived after their place was written out. */
  #lateRun = 0;
  #resampler: Resampler | null = null;
  #scratch = new Int16Array(0);
  /** Frames read with no audio in them after the channel got its first audio. */
  silentFrames = 0;
  /** Samples that could not be placed (their place was already read out, or beyond the ring). */
  droppedSamples = 0;
  /** Times the stream's anchor had to move (see the class comment). */
  rebased = 0;
  /** Chunks at a rate we cannot convert: dropped, counted. */
  unsupported = 0;

  constructor(rate: number, kind: 'stream' | 'clock') {
    this.rate = rate;
    this.kind = kind;
    this.frameSamples = Math.round(rate / 50);
    this.#ring = new Int16Array(Math.round((rate * RING_MS) / 1000));
  }

  /** Recording time zero, on the clock of the packets' arrival and of the media clock. */
  start(originMs: number): void {
    this.#originMs = originMs;
  }

  /** Recording position (samples) of a time on the media clock. */
  positionAt(ms: number): number {
    return Math.floor(((ms - this.#originMs) * this.rate) / 1000);
  }

  /** End of the furthest audio written, or -1. */
  get written(): number {
    return this.#written;
  }

  /** A new sender will follow (the relayed bridge peer changed): anchor its first chunk afresh. */
  newStream(): void {
    this.#epoch = -1;
  }

  /** Received audio: `position` (at `rate`) on the sender's timeline of stream `epoch`. */
  writeStream(pcm: Int16Array, rate: number, arrivalMs: number, position: number, epoch: number): void {
    const data = this.#convert(pcm, rate);
    if (data === null) return;
    const n = this.#scratchLength;
    const arrivalPos = this.positionAt(arrivalMs);
    const len = pcm.length;
    if (epoch !== this.#epoch || this.#expect < 0) {
      this.#epoch = epoch;
      this.#anchor(position, rate, n, arrivalPos);
    } else {
      // In sequence: right after the previous chunk (no rounding drift when resampling); after a
      // timestamp jump (DTX, a long loss): where the anchor puts it.
      const at = position === this.#expect ? this.#next : this.#offset + Math.round((position * this.rate) / rate);
      const second = this.rate;
      if (at > arrivalPos + (MAX_AHEAD_MS * this.rate) / 1000 || at + n < arrivalPos - 2 * second) {
        this.#anchor(position, rate, n, arrivalPos); // a timestamp jump, not the sender's timeline
      } else if (at + n <= this.#emitted) {
        // Its place was already written out as silence: the stream came later than
        // STREAM_WAIT_MS. A burst after a stall catches up by itself (dropped, counted, the
        // timeline kept); a stream that stays that late (the path's delay grew) is re-based.
        this.#lateRun += n;
        if (this.#lateRun < (STREAM_WAIT_MS * this.rate) / 1000) {
          this.droppedSamples += n;
          this.#expect = position + len;
          this.#next = at + n;
          return;
        }
        this.#anchor(position, rate, n, arrivalPos);
      } else {
        this.#next = at;
      }
    }
    this.#lateRun = 0;
    this.#expect = position + len;
    this.#put(data, n, this.#next);
    this.#next += n;
  }

  /** Generated audio of the media clock tick at `nowMs`. */
  writeClock(pcm: Int16Array, rate: number, nowMs: number): void {
    const data = this.#convert(pcm, rate);
    if (data === null) return;
    this.#put(data, this.#scratchLength, this.positionAt(nowMs));
  }

  #anchor(position: number, rate: number, n: number, arrivalPos: number): void {
    if (this.#expect >= 0) this.rebased++;
    let at = arrivalPos - n;
    if (at < this.#emitted) at = this.#emitted;
    if (at < this.#written) at = this.#written;
    this.#offset = at - Math.round((position * this.rate) / rate);
    this.#next = at;
  }

  #scratchLength = 0;

  #convert(pcm: Int16Array, rate: number): Int16Array | null {
    if (rate === this.rate) {
      this.#scratchLength = pcm.length;
      return pcm;
    }
    let r = this.#resampler;
    if (r === null || r.fromRate !== rate) {
      try {
        r = new Resampler(rate, this.rate);
      } catch {
        this.unsupported++;
        return null;
      }
      this.#resampler = r;
    }
    const need = Math.ceil((pcm.length * this.rate) / rate) + 1;
    if (this.#scratch.length < need) this.#scratch = new Int16Array(need * 2);
    this.#scratchLength = r.process(pcm, this.#scratch);
    return this.#scratch;
  }

  #put(data: Int16Array, n: number, at: number): void {
    let from = 0;
    if (at < this.#emitted) {
      from = this.#emitted - at;
      if (from > n) from = n;
      this.droppedSamples += from;
    }
    const ring = this.#ring;
    const size = ring.length;
    let end = at + n;
    if (end > this.#emitted + size) {
      this.droppedSamples += end - (this.#emitted + size);
      end = this.#emitted + size;
    }
    let w = (at + from) % size;
    for (let p = at + from; p < end; p++) {
      ring[w] = data[p - at]!;
      if (++w === size) w = 0;
    }
    if (end > this.#written) this.#written = end;
  }

  /** Whether the frame ending at `end` (samples) is final at media clock time `nowMs`. */
  ready(end: number, nowMs: number): boolean {
    if (this.kind === 'clock') return end <= this.positionAt(nowMs);
    return end <= this.#written || end <= this.positionAt(nowMs - STREAM_WAIT_MS);
  }

  /** Reads the next frame into `out` (silence where nothing was written) and forgets it. */
  read(out: Int16Array): void {
    const n = this.frameSamples;
    const ring = this.#ring;
    const size = ring.length;
    const at = this.#emitted;
    let r = at % size;
    for (let i = 0; i < n; i++) {
      out[i] = ring[r]!;
      ring[r] = 0;
      if (++r === size) r = 0;
    }
    if (this.kind === 'stream' && this.#written >= 0 && this.#written < at + n) this.silentFrames++;
    this.#emitted = at + n;
  }
}
