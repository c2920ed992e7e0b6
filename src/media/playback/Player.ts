import { InvalidStateError, ValidationError } from '../../common/errors.ts';
import { TypedEmitter } from '../../common/TypedEmitter.ts';
import { ToneGenerator, type ToneSpec } from './ToneGenerator.ts';

/**
 * A playable entry, PCM already at the player's rate. Built by resolvePlaylist() from media items;
 * tones and silence are generated on the fly, DTMF is handed to the caller (the endpoint sends
 * RFC 4733 events), lazy entries are loaded when the player reaches them.
 */
export type PlaylistSource =
  | { readonly kind: 'pcm'; readonly pcm: Int16Array; readonly label?: string }
  | { readonly kind: 'tone'; readonly tone: ToneSpec }
  | { readonly kind: 'silence'; readonly durationMs: number }
  | { readonly kind: 'dtmf'; readonly digits: string; readonly durationMs: number }
  | { readonly kind: 'lazy'; readonly load: (signal: AbortSignal) => Promise<Int16Array>; readonly label?: string };

export type PlayerState = 'playing' | 'paused' | 'loading' | 'waiting' | 'finished';
export type FinishReason = 'done' | 'stopped' | 'barge_in' | 'error';

/** Something the player needs its owner to do before it can go on (see completeAction()). */
export interface PlayerAction {
  readonly type: 'dtmf';
  readonly digits: string;
  readonly durationMs: number;
  /** Index of the playlist entry that asked. */
  readonly index: number;
}

export interface PlayerOptions {
  /** PCM rate of the sources and of fill()'s frames. */
  sampleRate: number;
  /** Times the playlist is played: 0 or 1 once, n times, `true`/Infinity forever. */
  loop?: number | boolean;
  /** Stop on DTMF: true for any digit, or a string of the digits that interrupt. */
  bargeIn?: boolean | string;
  /**
   * Start every lazy entry's load now instead of when the player reaches it, so later entries are
   * prepared while earlier ones play. A load that fails ends the playback when its turn comes.
   */
  prefetch?: boolean;
}

export interface PlayerEvents {
  finished: (reason: FinishReason, info: { digit?: string; error?: Error; playedSamples: number }) => void;
  action: (action: PlayerAction) => void;
}

const K_PCM = 0;
const K_TONE = 1;
const K_SILENCE = 2;
const K_DTMF = 3;
const K_LAZY = 4;

/** Per-entry playback state, created once in the constructor so fill() allocates nothing. */
class Slot {
  kind: number;
  pcm: Int16Array | undefined;
  tone: ToneGenerator | undefined;
  /** Samples of silence, or of a DTMF wait. */
  length = 0;
  pos = 0;
  readonly source: PlaylistSource;
  loading: Promise<void> | undefined;
  /** A lazy entry's load failed; reported when the player reaches it. */
  error: Error | undefined;
  constructor(source: PlaylistSource, kind: number) {
    this.source = source;
    this.kind = kind;
  }
}

/**
 * Plays a playlist on the media clock: the owner calls fill(frame) every ptime and gets exactly one
 * frame, the last partial one zero-padded, never a short frame. Pure: no timers, no sockets.
 *
 * Loop semantics: the whole playlist repeats; an unbounded tone keeps the player on that entry.
 */
export class Player extends TypedEmitter<PlayerEvents> {
  readonly sampleRate: number;
  readonly loops: number;
  readonly #bargeIn: boolean | string;
  readonly #slots: Slot[];
  #index = 0;
  #pass = 0;
  #samplesThisPass = 0;
  #played = 0;
  #state: PlayerState = 'playing';
  #paused = false;
  #reason: FinishReason | undefined;
  #digit: string | undefined;
  #error: Error | undefined;
  #action: PlayerAction | undefined;
  #abort: AbortController | undefined;

  constructor(sources: readonly PlaylistSource[], opts: PlayerOptions) {
    super();
    if (!(opts.sampleRate >= 8000 && opts.sampleRate <= 192000)) {
      throw new ValidationError('INVALID_PLAYBACK', `sample rate ${opts.sampleRate} is not supported`);
    }
    this.sampleRate = opts.sampleRate;
    const loop = opts.loop ?? 0;
    this.loops =
      loop === true || loop === Infinity || loop === -1 ? Infinity : loop === false ? 1 : Math.max(1, Math.floor(loop));
    if (Number.isNaN(this.loops)) throw new ValidationError('INVALID_PLAYBACK', 'loop must be a number or a boolean');
    this.#bargeIn = opts.bargeIn ?? false;
    this.#slots = sources.map((s) => this.#slot(s));
    if (opts.prefetch === true) for (const slot of this.#slots) if (slot.kind === K_LAZY) this.#startLoad(slot);
  }

  #slot(s: PlaylistSource): Slot {
    const rate = this.sampleRate;
    switch (s.kind) {
      case 'pcm': {
        const slot = new Slot(s, K_PCM);
        slot.pcm = s.pcm;
        return slot;
      }
      case 'tone': {
        const slot = new Slot(s, K_TONE);
        slot.tone = new ToneGenerator(s.tone, rate);
        return slot;
      }
      case 'silence': {
        const slot = new Slot(s, K_SILENCE);
        slot.length = Math.round((s.durationMs * rate) / 1000);
        return slot;
      }
      case 'dtmf':
        return new Slot(s, K_DTMF);
      case 'lazy':
        this.#abort ??= new AbortController();
        return new Slot(s, K_LAZY);
      default:
        throw new ValidationError('INVALID_PLAYBACK', `unknown playlist source kind '${(s as { kind: string }).kind}'`);
    }
  }

  get state(): PlayerState {
    return this.#state;
  }

  /** Why the player finished; undefined while it has not. */
  get reason(): FinishReason | undefined {
    return this.#reason;
  }

  get bargeInDigit(): string | undefined {
    return this.#digit;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  /** The request the owner must carry out while state is 'waiting'. */
  get pendingAction(): PlayerAction | undefined {
    return this.#action;
  }

  /** Index of the playlist entry being played. */
  get index(): number {
    return this.#index;
  }

  /** Completed passes over the playlist. */
  get pass(): number {
    return this.#pass;
  }

  /** Samples written by fill() since start, padding and pauses included. */
  get playedSamples(): number {
    return this.#played;
  }

  /**
   * Write one frame of `out.length` samples. Returns out.length while the player is alive (silence
   * while paused, loading or waiting on an action) and 0 once finished, so the owner switches
   * source. The frame in which the playlist ends is zero-padded and returned whole.
   */
  fill(out: Int16Array): number {
    if (this.#state === 'finished') return 0;
    const frame = out.length;
    let off = 0;
    let ended = false;
    if (!this.#paused && this.#action === undefined) {
      this.#state = 'playing';
      while (off < frame) {
        if (this.#index >= this.#slots.length) {
          this.#pass++;
          // An empty pass (nothing but DTMF, or empty buffers) would spin forever on an infinite loop.
          if (this.#pass >= this.loops || this.#samplesThisPass === 0) {
            ended = true;
            break;
          }
          this.#restart();
        }
        const n = this.#read(this.#slots[this.#index] as Slot, out, off, frame - off);
        off += n;
        this.#samplesThisPass += n;
        if (this.#state !== 'playing') break; // loading, or waiting on an action
        if (off < frame) this.#index++; // the entry gave less than asked: it is exhausted
      }
    }
    if (off < frame) out.fill(0, off, frame);
    if (ended) {
      if (off > 0) this.#played += frame;
      this.#finish('done');
      return off > 0 ? frame : 0;
    }
    this.#played += frame;
    return frame;
  }

  /** Read up to `count` samples from a slot; fewer means the slot is exhausted (or blocked). */
  #read(slot: Slot, out: Int16Array, off: number, count: number): number {
    switch (slot.kind) {
      case K_PCM: {
        const pcm = slot.pcm as Int16Array;
        const n = Math.min(count, pcm.length - slot.pos);
        if (n <= 0) return 0;
        // Element copy: subarray() would allocate a view every frame.
        const from = slot.pos;
        for (let i = 0; i < n; i++) out[off + i] = pcm[from + i] as number;
        slot.pos = from + n;
        return n;
      }
      case K_TONE:
        return (slot.tone as ToneGenerator).generate(out, off, count);
      case K_SILENCE: {
        const n = Math.min(count, slot.length - slot.pos);
        if (n <= 0) return 0;
        out.fill(0, off, off + n);
        slot.pos += n;
        return n;
      }
      case K_DTMF: {
        if (slot.pos > 0) return 0; // already sent in this pass
        slot.pos = 1;
        const s = slot.source as Extract<PlaylistSource, { kind: 'dtmf' }>;
        this.#action = { type: 'dtmf', digits: s.digits, durationMs: s.durationMs, index: this.#index };
        this.#state = 'waiting';
        this.emit('action', this.#action);
        return 0;
      }
      case K_LAZY: {
        if (slot.pcm !== undefined) {
          slot.kind = K_PCM;
          return this.#read(slot, out, off, count);
        }
        if (slot.error !== undefined) {
          this.fail(slot.error);
          return 0;
        }
        if (slot.loading === undefined) this.#startLoad(slot);
        if (this.#state !== 'finished') this.#state = 'loading';
        return 0;
      }
      default:
        return 0;
    }
  }

  #startLoad(slot: Slot): void {
    const s = slot.source as Extract<PlaylistSource, { kind: 'lazy' }>;
    const signal = (this.#abort as AbortController).signal;
    slot.loading = s.load(signal).then(
      (pcm) => {
        slot.pcm = pcm;
      },
      (err: unknown) => {
        slot.error = err instanceof Error ? err : new Error(String(err));
        // Waiting on this very entry: fail now; otherwise when the player gets to it.
        if (this.#state === 'loading' && this.#slots[this.#index] === slot) this.fail(slot.error);
      },
    );
  }

  #restart(): void {
    this.#index = 0;
    this.#samplesThisPass = 0;
    for (const slot of this.#slots) {
      slot.pos = 0;
      slot.tone?.reset();
    }
  }

  pause(): void {
    if (this.#state === 'finished') throw new InvalidStateError('PLAYBACK_FINISHED', 'playback has finished');
    this.#paused = true;
    if (this.#action === undefined) this.#state = 'paused';
  }

  resume(): void {
    if (this.#state === 'finished') throw new InvalidStateError('PLAYBACK_FINISHED', 'playback has finished');
    this.#paused = false;
    if (this.#state === 'paused') this.#state = 'playing';
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The owner has carried out pendingAction (sent the digits); playback goes on with the next entry. */
  completeAction(): void {
    if (this.#action === undefined) return;
    this.#action = undefined;
    this.#index++;
    if (this.#state === 'waiting') this.#state = this.#paused ? 'paused' : 'playing';
  }

  /**
   * A DTMF digit arrived. Stops playback with reason 'barge_in' when barge-in is on for that digit;
   * returns whether it did.
   */
  bargeIn(digit: string): boolean {
    if (this.#state === 'finished' || this.#bargeIn === false) return false;
    if (typeof this.#bargeIn === 'string' && !this.#bargeIn.includes(digit.toUpperCase())) return false;
    this.#digit = digit;
    this.#finish('barge_in');
    return true;
  }

  /** The caller started talking on a playback with barge-in on speech: stops with reason 'barge_in', no digit. */
  bargeInSpeech(): boolean {
    if (this.#state === 'finished') return false;
    this.#finish('barge_in');
    return true;
  }

  /** Stop now (reason 'stopped'). Idempotent; the next fill() returns 0. */
  stop(): void {
    if (this.#state !== 'finished') this.#finish('stopped');
  }

  /** Stop with reason 'error' (a lazy entry failed, or the owner hit a problem). */
  fail(err: Error): void {
    if (this.#state === 'finished') return;
    this.#error = err;
    this.#finish('error');
  }

  #finish(reason: FinishReason): void {
    this.#state = 'finished';
    this.#reason = reason;
    this.#action = undefined;
    this.#abort?.abort();
    const info: { digit?: string; error?: Error; playedSamples: number } = { playedSamples: this.#played };
    if (this.#digit !== undefined) info.digit = this.#digit;
    if (this.#error !== undefined) info.error = this.#error;
    this.emit('finished', reason, info);
  }

  /** Total samples of one pass when every entry is finite and known; undefined otherwise. */
  durationSamples(): number | undefined {
    let total = 0;
    for (const slot of this.#slots) {
      switch (slot.kind) {
        case K_PCM:
          total += (slot.pcm as Int16Array).length;
          break;
        case K_SILENCE:
          total += slot.length;
          break;
        case K_TONE: {
          const ms = (slot.source as Extract<PlaylistSource, { kind: 'tone' }>).tone.durationMs;
          if (ms === undefined) return undefined;
          total += Math.round((ms * this.sampleRate) / 1000);
          break;
        }
        case K_DTMF:
          break;
        default:
          return undefined;
      }
    }
    return total;
  }
}
