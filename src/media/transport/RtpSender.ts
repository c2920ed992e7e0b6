import { randomInt } from 'node:crypto';
import { seqAdd, seqDiff, tsAdd } from '../../common/seq.ts';

/**
 * Our outbound RTP stream for one endpoint. Whatever feeds it (a bridge peer relaying packets,
 * a player, a mixer), the peer sees one continuous stream: our SSRC never changes, sequence
 * numbers continue, timestamps advance by the elapsed time across a source switch and the
 * marker bit flags the jump (RFC 3550 5.1; RFC 3551 4.1 for the marker on talkspurts).
 *
 * Relayed packets keep their source's relative sequence/timestamp structure (gaps, reordering)
 * through fixed offsets computed when the source starts; the header is rewritten in place.
 */
export class RtpSender {
  readonly ssrc: number;
  clockRate: number;
  /** Samples per packet at clockRate, used as the minimum advance across a source switch. */
  frameSamples: number;

  #seq: number; // last sequence number sent
  #ts: number; // last timestamp sent
  #lastSendMs = -1;
  #source = -1; // token of the source whose offsets are current
  #seqOffset = 0;
  #tsOffset = 0;
  #marker = true;

  packets = 0;
  octets = 0;
  /** RTP timestamp and wallclock (ms) of the last packet, for RTCP SR. */
  lastTimestamp = 0;
  lastWallMs = 0;

  constructor(clockRate = 8000, frameSamples = 160) {
    this.ssrc = randomInt(1, 0xffffffff) >>> 0;
    this.#seq = randomInt(0, 0x10000);
    this.#ts = randomInt(0, 0xffffffff) >>> 0;
    this.clockRate = clockRate;
    this.frameSamples = frameSamples;
  }

  /** Samples to advance from the last packet sent when a new source starts at `nowMs`. */
  #advance(nowMs: number): number {
    if (this.#lastSendMs < 0) return this.frameSamples;
    const elapsed =
      Math.round(((nowMs - this.#lastSendMs) * this.clockRate) / 1000 / this.frameSamples) * this.frameSamples;
    return elapsed > this.frameSamples ? elapsed : this.frameSamples;
  }

  /**
   * Rewrites a relayed packet's header in place (SSRC, sequence, timestamp, marker) so it
   * continues our stream. `source` identifies the feeding stream (changes on re-bridge or when
   * the peer's SSRC changes). `tsIn` is already in our clock units.
   */
  rewrite(buf: Uint8Array, source: number, seqIn: number, tsIn: number, nowMs: number): void {
    if (source !== this.#source) {
      this.#source = source;
      this.#seqOffset = seqDiff(seqAdd(this.#seq, 1), seqIn);
      this.#tsOffset = (tsAdd(this.#ts, this.#advance(nowMs)) - tsIn) | 0;
      this.#marker = true;
    }
    const seq = seqAdd(seqIn, this.#seqOffset);
    const ts = tsAdd(tsIn, this.#tsOffset);
    if (seqDiff(seq, this.#seq) > 0) {
      this.#seq = seq;
      this.#ts = ts;
    }
    if (this.#marker) {
      buf[1] = buf[1]! | 0x80;
      this.#marker = false;
    }
    buf[2] = seq >>> 8;
    buf[3] = seq & 0xff;
    writeU32(buf, 4, ts);
    writeU32(buf, 8, this.ssrc);
    this.#lastSendMs = nowMs;
    this.lastTimestamp = this.#ts;
    this.lastWallMs = nowMs;
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
    let ts: number;
    if (source !== this.#source) {
      this.#source = source;
      ts = tsAdd(this.#ts, this.#advance(nowMs));
      marker = true;
    } else {
      ts = tsAdd(this.#ts, samples);
    }
    this.#seq = seqAdd(this.#seq, 1);
    this.#ts = ts;
    buf[0] = 0x80;
    buf[1] = (marker || this.#marker ? 0x80 : 0) | (payloadType & 0x7f);
    this.#marker = false;
    buf[2] = this.#seq >>> 8;
    buf[3] = this.#seq & 0xff;
    writeU32(buf, 4, ts);
    writeU32(buf, 8, this.ssrc);
    this.#lastSendMs = nowMs;
    this.lastTimestamp = ts;
    this.lastWallMs = nowMs;
  }

  /**
   * The RTP timestamp audio sent at `nowMs` would carry: where an RFC 4733 event that begins now
   * starts (section 2.5.1.1, the event timestamp is the time the event began).
   */
  timestampAt(nowMs: number): number {
    return tsAdd(this.#ts, this.#advance(nowMs));
  }

  /**
   * Writes the header of a packet inserted into the stream with a timestamp of its own (RFC 4733
   * events: every packet of an event repeats the event's start time, section 2.5.1.1) without
   * moving the audio timeline; relayed packets after it are shifted by one sequence number so
   * none is repeated.
   */
  writeInsertedHeader(buf: Uint8Array, payloadType: number, timestamp: number, marker: boolean): void {
    this.#seq = seqAdd(this.#seq, 1);
    this.#seqOffset = (this.#seqOffset + 1) & 0xffff;
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    buf[2] = this.#seq >>> 8;
    buf[3] = this.#seq & 0xff;
    writeU32(buf, 4, timestamp >>> 0);
    writeU32(buf, 8, this.ssrc);
  }

  /** Makes the next packet, from whatever source, a new talkspurt (marker, re-based offsets). */
  resetSource(): void {
    this.#source = -1;
  }

  /** Counts a packet actually handed to the socket. */
  count(bytes: number): void {
    this.packets++;
    this.octets += bytes - 12;
  }

  get lastSequence(): number {
    return this.#seq;
  }
}

function writeU32(buf: Uint8Array, offset: number, v: number): void {
  buf[offset] = v >>> 24;
  buf[offset + 1] = (v >>> 16) & 0xff;
  buf[offset + 2] = (v >>> 8) & 0xff;
  buf[offset + 3] = v & 0xff;
}
