import { randomInt } from 'node:crypto';
import { seqAdd, seqDiff, tsAdd } from '../../common/seq.ts';
import {
  HR_OFFSET_MS,
  S,
  SENDER_BYTES,
  SENDER_FLOAT_OFFSET,
  SENDER_FLOATS,
  SENDER_INTS,
  SF,
} from './udp/offloadLayout.ts';

/** Spins at most this often for the block's lock before taking it over (see lock()). */
const LOCK_SPINS = 1 << 20;

/**
 * Takes the block's lock: held by the addon for a few instructions and one sendmmsg. A holder
 * that never lets go (a thread terminated inside it) must not hang this one: after LOCK_SPINS
 * tries (milliseconds) the lock is taken over.
 */
function lock(words: Int32Array): void {
  for (let i = 0; i < LOCK_SPINS; i++) if (Atomics.compareExchange(words, S.LOCK, 0, 1) === 0) return;
  Atomics.store(words, S.LOCK, 1);
}

function unlock(words: Int32Array): void {
  Atomics.store(words, S.LOCK, 0);
}

/**
 * Our outbound RTP stream for one endpoint. Whatever feeds it (a bridge peer relaying packets,
 * a player, a mixer), the peer sees one continuous stream: our SSRC never changes, sequence
 * numbers continue, timestamps advance by the elapsed time across a source switch and the
 * marker bit flags the jump (RFC 3550 5.1; RFC 3551 4.1 for the marker on talkspurts).
 *
 * Relayed packets keep their source's relative sequence/timestamp structure (gaps, reordering)
 * through fixed offsets computed when the source starts; the header is rewritten in place.
 *
 * The state lives in a shared block (udp/offloadLayout.ts) rather than in fields: the native
 * addon relays into the same stream with the same arithmetic (the relay offload), possibly from
 * another worker, so every access holds the block's lock.
 */
export class RtpSender {
  readonly ssrc: number;
  /** The shared state: int32 words (S) and float64 words (SF) over one SharedArrayBuffer. */
  readonly block: SharedArrayBuffer;
  readonly #w: Int32Array;
  readonly #f: Float64Array;
  /** The last send time this thread wrote, in both clocks: lastWallMs returns it unchanged. */
  #wroteHrMs = Number.NaN;
  #wroteMs = 0;

  constructor(clockRate = 8000, frameSamples = 160) {
    this.block = new SharedArrayBuffer(SENDER_BYTES);
    this.#w = new Int32Array(this.block, 0, SENDER_INTS);
    this.#f = new Float64Array(this.block, SENDER_FLOAT_OFFSET, SENDER_FLOATS);
    this.ssrc = randomInt(1, 0xffffffff) >>> 0;
    const w = this.#w;
    w[S.SSRC] = this.ssrc | 0;
    w[S.SEQ] = randomInt(0, 0x10000);
    w[S.TS] = randomInt(0, 0xffffffff) | 0;
    w[S.SOURCE] = -1;
    w[S.MARKER] = 1;
    w[S.CLOCK_RATE] = clockRate;
    w[S.FRAME_SAMPLES] = frameSamples;
    w[S.FD] = -1;
    this.#f[SF.LAST_SEND_MS] = -1;
  }

  get clockRate(): number {
    return this.#w[S.CLOCK_RATE]!;
  }

  set clockRate(v: number) {
    this.#w[S.CLOCK_RATE] = v;
  }

  /** Samples per packet at clockRate, used as the minimum advance across a source switch. */
  get frameSamples(): number {
    return this.#w[S.FRAME_SAMPLES]!;
  }

  set frameSamples(v: number) {
    this.#w[S.FRAME_SAMPLES] = v;
  }

  /** Packets sent, by JavaScript or by the addon. */
  get packets(): number {
    return this.#w[S.PACKETS]! >>> 0;
  }

  /** Payload octets sent. */
  get octets(): number {
    return this.#f[SF.OCTETS]!;
  }

  /** RTP timestamp of the last packet, for RTCP SR. */
  get lastTimestamp(): number {
    return this.#w[S.TS]! >>> 0;
  }

  /** When the last packet went (performance.now() of this thread; 0 before any). */
  get lastWallMs(): number {
    const hr = this.#f[SF.LAST_SEND_MS]!;
    if (hr < 0) return 0;
    return hr === this.#wroteHrMs ? this.#wroteMs : hr - HR_OFFSET_MS;
  }

  #stamp(nowMs: number): void {
    const hr = nowMs + HR_OFFSET_MS;
    this.#wroteHrMs = hr;
    this.#wroteMs = nowMs;
    this.#f[SF.LAST_SEND_MS] = hr;
  }

  /** Samples to advance from the last packet sent when a new source starts at `nowMs`. */
  #advance(nowMs: number): number {
    const w = this.#w;
    const last = this.#f[SF.LAST_SEND_MS]!;
    const frame = w[S.FRAME_SAMPLES]!;
    if (last < 0) return frame;
    const elapsed = Math.round(((nowMs + HR_OFFSET_MS - last) * w[S.CLOCK_RATE]!) / 1000 / frame) * frame;
    return elapsed > frame ? elapsed : frame;
  }

  /**
   * Rewrites a relayed packet's header in place (SSRC, sequence, timestamp, marker) so it
   * continues our stream. `source` identifies the feeding stream (changes on re-bridge or when
   * the peer's SSRC changes). `tsIn` is already in our clock units.
   */
  rewrite(buf: Uint8Array, source: number, seqIn: number, tsIn: number, nowMs: number): void {
    const w = this.#w;
    lock(w);
    if ((source | 0) !== w[S.SOURCE]) {
      w[S.SOURCE] = source | 0;
      w[S.SEQ_OFFSET] = seqDiff(seqAdd(w[S.SEQ]!, 1), seqIn);
      w[S.TS_OFFSET] = (tsAdd(w[S.TS]!, this.#advance(nowMs)) - tsIn) | 0;
      w[S.MARKER] = 1;
    }
    const seq = seqAdd(seqIn, w[S.SEQ_OFFSET]!);
    const ts = tsAdd(tsIn, w[S.TS_OFFSET]!);
    if (seqDiff(seq, w[S.SEQ]!) > 0) {
      w[S.SEQ] = seq;
      w[S.TS] = ts | 0;
    }
    if (w[S.MARKER] !== 0) {
      buf[1] = buf[1]! | 0x80;
      w[S.MARKER] = 0;
    }
    this.#stamp(nowMs);
    unlock(w);
    buf[2] = seq >>> 8;
    buf[3] = seq & 0xff;
    writeU32(buf, 4, ts);
    writeU32(buf, 8, this.ssrc);
  }

  /**
   * Writes a header for a packet we generate ourselves (player, mixer, DTMF): `samples` is the
   * duration of the previous packet of the same source; the first packet of a source gets the
   * marker. For DTMF events several packets share a timestamp: pass `samples` = 0.
   */
  writeHeader(
    buf: Uint8Array,
    payloadType: number,
    source: number,
    samples: number,
    nowMs: number,
    marker = false,
  ): void {
    const w = this.#w;
    lock(w);
    let ts: number;
    if ((source | 0) !== w[S.SOURCE]) {
      w[S.SOURCE] = source | 0;
      ts = tsAdd(w[S.TS]!, this.#advance(nowMs));
      marker = true;
    } else {
      ts = tsAdd(w[S.TS]!, samples);
    }
    const seq = seqAdd(w[S.SEQ]!, 1);
    w[S.SEQ] = seq;
    w[S.TS] = ts | 0;
    const m = marker || w[S.MARKER] !== 0;
    w[S.MARKER] = 0;
    this.#stamp(nowMs);
    unlock(w);
    buf[0] = 0x80;
    buf[1] = (m ? 0x80 : 0) | (payloadType & 0x7f);
    buf[2] = seq >>> 8;
    buf[3] = seq & 0xff;
    writeU32(buf, 4, ts);
    writeU32(buf, 8, this.ssrc);
  }

  /**
   * The RTP timestamp audio sent at `nowMs` would carry: where an RFC 4733 event that begins now
   * starts (section 2.5.1.1, the event timestamp is the time the event began).
   */
  timestampAt(nowMs: number): number {
    const w = this.#w;
    lock(w);
    const ts = tsAdd(w[S.TS]!, this.#advance(nowMs));
    unlock(w);
    return ts;
  }

  /**
   * Writes the header of a packet inserted into the stream with a timestamp of its own (RFC 4733
   * events: every packet of an event repeats the event's start time, section 2.5.1.1) without
   * moving the audio timeline; relayed packets after it are shifted by one sequence number so
   * none is repeated.
   */
  writeInsertedHeader(buf: Uint8Array, payloadType: number, timestamp: number, marker: boolean): void {
    const w = this.#w;
    lock(w);
    const seq = seqAdd(w[S.SEQ]!, 1);
    w[S.SEQ] = seq;
    w[S.SEQ_OFFSET] = (w[S.SEQ_OFFSET]! + 1) & 0xffff;
    unlock(w);
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    buf[2] = seq >>> 8;
    buf[3] = seq & 0xff;
    writeU32(buf, 4, timestamp >>> 0);
    writeU32(buf, 8, this.ssrc);
  }

  /** Makes the next packet, from whatever source, a new talkspurt (marker, re-based offsets). */
  resetSource(): void {
    const w = this.#w;
    lock(w);
    w[S.SOURCE] = -1;
    unlock(w);
  }

  /** Counts a packet actually handed to the socket. */
  count(bytes: number): void {
    const w = this.#w;
    lock(w);
    w[S.PACKETS] = (w[S.PACKETS]! + 1) | 0;
    this.#f[SF.OCTETS] = this.#f[SF.OCTETS]! + bytes - 12;
    unlock(w);
  }

  get lastSequence(): number {
    return this.#w[S.SEQ]!;
  }

  /**
   * Where the addon may relay into this stream, or null when it may not (can't send, a
   * generated source owns the stream, no native socket, not IPv4): written by this endpoint's
   * worker whenever one of those changes. Clearing it under the lock also guarantees the addon
   * is not sending on `fd` when it returns, so the socket may be closed after.
   */
  setRelayTarget(target: { fd: number; ip: number; port: number; payloadType: number; codecKey: number } | null): void {
    const w = this.#w;
    lock(w);
    if (target === null) {
      w[S.RELAY_OK] = 0;
      w[S.FD] = -1;
    } else {
      w[S.FD] = target.fd;
      w[S.DST_IP] = target.ip | 0;
      w[S.DST_PORT] = target.port;
      w[S.PT_OUT] = target.payloadType;
      w[S.CODEC_KEY] = target.codecKey;
      w[S.RELAY_OK] = 1;
    }
    unlock(w);
  }
}

function writeU32(buf: Uint8Array, offset: number, v: number): void {
  buf[offset] = v >>> 24;
  buf[offset + 1] = (v >>> 16) & 0xff;
  buf[offset + 2] = (v >>> 8) & 0xff;
  buf[offset + 3] = v & 0xff;
}
