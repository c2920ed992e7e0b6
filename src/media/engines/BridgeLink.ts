import type { MessagePort } from 'node:worker_threads';
import type { EndpointMediaConfig } from '../../common/workerProtocol.ts';
import type { MediaSink, RtpEndpoint } from '../transport/RtpEndpoint.ts';
import { Drop } from '../transport/dropReasons.ts';
import { createTranscoder, sameCodec, type Transcoder } from './Transcoder.ts';
import { tsAdd, tsDiff } from '../../common/seq.ts';

/** Delivers a packet already converted for the destination leg: local endpoint or another worker. */
export interface LinkTarget {
  /** The destination leg's negotiated media (null until it is configured). */
  media(): EndpointMediaConfig | null;
  deliver(buf: Uint8Array, length: number, source: number, seq: number, ts: number, nowMs: number): void;
}

let nextSerial = 1;

/**
 * One direction of a bridge: media received on `from` goes to `target`. Same codec: the packet
 * is forwarded as received with only its payload type mapped (relay, no decode). Different
 * codecs: the payload is transcoded into a preallocated buffer. Telephone-events keep their
 * payload, with the payload type and (when clock rates differ) timestamp/duration scaled.
 * The destination's sender rewrites SSRC/sequence/timestamp to keep its stream continuous.
 */
export class BridgeLink implements MediaSink {
  readonly #target: LinkTarget;
  readonly #from: RtpEndpoint;
  readonly #serial = (nextSerial++ * 0x9e3779b1) >>> 0;
  // dgram.send() reads its buffer after returning: consecutive output frames need their own.
  readonly #outRing = [new Uint8Array(1500), new Uint8Array(1500), new Uint8Array(1500), new Uint8Array(1500)];
  #outIndex = 0;
  #outSeq = 0;
  #frameTs = 0;
  #nextInTs = 0;
  #framing = false;
  #transcoder: Transcoder | null = null;
  #transcoderKey = '';
  // Timestamp scaling between clock rates (transcoding Opus 48 kHz <-> 8 kHz).
  #lastTsIn = 0;
  #tsOut = 0;
  #tsStarted = false;
  #lastSsrc = -1;
  relayed = 0;

  constructor(from: RtpEndpoint, target: LinkTarget) {
    this.#from = from;
    this.#target = target;
  }

  /** The destination leg when it lives in this worker (the DTMF engine converts events for it). */
  get peer(): RtpEndpoint | null {
    return this.#target instanceof LocalTarget ? this.#target.endpoint : null;
  }

  /** 'relay' when both legs share a codec, else 'transcode'. */
  get mode(): 'relay' | 'transcode' {
    const a = this.#from.media;
    const b = this.#target.media();
    return a && b && !sameCodec(a.codec, b.codec) ? 'transcode' : 'relay';
  }

  onPacket(buf: Buffer, payloadOffset: number, payloadLength: number, isEvent: boolean, seq: number, ts: number, ssrc: number, nowMs: number): void {
    const src = this.#from.media;
    const dst = this.#target.media();
    if (src === null || dst === null) return;
    if (ssrc !== this.#lastSsrc) {
      this.#lastSsrc = ssrc;
      this.#tsStarted = false;
      this.#framing = false;
    }
    const source = (this.#serial ^ ssrc) >>> 0;
    const srcClock = isEvent ? src.telephoneEvent!.clockRate : src.codec.clockRate;
    const dstClock = isEvent ? (dst.telephoneEvent ? dst.telephoneEvent.clockRate : 0) : dst.codec.clockRate;
    const tsOut = srcClock === dstClock ? ts : this.#scaleTs(ts, srcClock, dstClock);
    if (isEvent) {
      // RFC 4733 -> in-band: the DTMF engine hears these events too and plays tones on `peer`.
      if (dst.telephoneEvent === null) return;
      buf[1] = (buf[1]! & 0x80) | dst.telephoneEvent.payloadType;
      if (srcClock !== dstClock && payloadLength >= 4) {
        const at = payloadOffset + 2;
        const duration = Math.min(0xffff, Math.round((((buf[at]! << 8) | buf[at + 1]!) * dstClock) / srcClock));
        buf[at] = duration >>> 8;
        buf[at + 1] = duration & 0xff;
      }
      this.relayed++;
      this.#target.deliver(buf, buf.length, source, seq, tsOut, nowMs);
      return;
    }
    if (sameCodec(src.codec, dst.codec)) {
      buf[1] = (buf[1]! & 0x80) | dst.codec.payloadType;
      this.relayed++;
      this.#target.deliver(buf, buf.length, source, seq, tsOut, nowMs);
      return;
    }
    this.#transcode(buf.subarray(payloadOffset, payloadOffset + payloadLength), (buf[1]! & 0x80) !== 0, src, dst, source, tsOut, nowMs);
  }

  /**
   * Transcoded audio is re-framed to the destination's packet time, so it gets its own output
   * sequence and timestamps (one input packet may give zero, one or two output frames). A gap
   * in the input timestamps (silence suppression, loss, a new source) restarts the framing at
   * the input's time so audio stays aligned with the clock.
   */
  #transcode(payload: Uint8Array, marker: boolean, src: EndpointMediaConfig, dst: EndpointMediaConfig, source: number, tsIn: number, nowMs: number): void {
    const transcoder = this.#transcoderFor(src, dst);
    const backlog = transcoder.backlogClock;
    if (!this.#framing || tsDiff(tsIn, this.#nextInTs) !== 0) {
      if (this.#framing && Math.abs(tsDiff(tsIn, this.#nextInTs)) > 0) transcoder.reset();
      this.#frameTs = tsAdd(tsIn, -transcoder.backlogClock);
      this.#framing = true;
      marker = true;
    }
    if (!transcoder.push(payload)) {
      this.#from.drops[Drop.TRANSCODE_FAILED]! += 1;
      this.#framing = false;
      return;
    }
    this.#nextInTs = tsAdd(tsIn, transcoder.backlogClock - backlog);
    const audioSource = (source ^ 1) >>> 0;
    for (;;) {
      const out = this.#outRing[this.#outIndex]!;
      const n = transcoder.pull(out.subarray(12));
      if (n <= 0) break;
      this.#outIndex = (this.#outIndex + 1) % this.#outRing.length;
      this.#outSeq = (this.#outSeq + 1) & 0xffff;
      out[0] = 0x80;
      out[1] = (marker ? 0x80 : 0) | dst.codec.payloadType;
      marker = false;
      this.relayed++;
      this.#target.deliver(out, 12 + n, audioSource, this.#outSeq, this.#frameTs, nowMs);
      this.#frameTs = tsAdd(this.#frameTs, transcoder.lastFrameClock);
    }
  }

  #scaleTs(ts: number, from: number, to: number): number {
    if (!this.#tsStarted) {
      this.#tsStarted = true;
      this.#lastTsIn = ts;
      this.#tsOut = Math.round(ts * (to / from)) >>> 0;
      return this.#tsOut;
    }
    const delta = tsDiff(ts, this.#lastTsIn);
    if (delta > 0) {
      this.#lastTsIn = ts;
      this.#tsOut = tsAdd(this.#tsOut, Math.round((delta * to) / from));
      return this.#tsOut;
    }
    return tsAdd(this.#tsOut, Math.round((delta * to) / from));
  }

  #transcoderFor(src: EndpointMediaConfig, dst: EndpointMediaConfig): Transcoder {
    const key = `${src.codec.name}/${src.codec.clockRate}>${dst.codec.name}/${dst.codec.clockRate}`;
    if (this.#transcoder === null || key !== this.#transcoderKey) {
      if (this.#transcoder) this.#transcoder.close();
      this.#transcoder = createTranscoder(src.codec, dst.codec);
      this.#transcoderKey = key;
      this.#framing = false;
    }
    return this.#transcoder;
  }

  close(): void {
    if (this.#transcoder) this.#transcoder.close();
    this.#transcoder = null;
  }
}

/** A destination leg in the same worker. */
export class LocalTarget implements LinkTarget {
  readonly #endpoint: RtpEndpoint;
  constructor(endpoint: RtpEndpoint) {
    this.#endpoint = endpoint;
  }
  get endpoint(): RtpEndpoint {
    return this.#endpoint;
  }
  media(): EndpointMediaConfig | null {
    return this.#endpoint.media;
  }
  deliver(buf: Uint8Array, length: number, source: number, seq: number, ts: number, nowMs: number): void {
    this.#endpoint.sendRelayed(buf, length, source, seq, ts, nowMs);
  }
}

/**
 * A destination leg on another worker: the converted packet is posted through a MessagePort
 * (a copy; cross-worker bridging works but costs more than a local relay).
 */
export class RemoteTarget implements LinkTarget {
  readonly #port: MessagePort;
  peerMedia: EndpointMediaConfig;
  constructor(port: MessagePort, peerMedia: EndpointMediaConfig) {
    this.#port = port;
    this.peerMedia = peerMedia;
  }
  media(): EndpointMediaConfig | null {
    return this.peerMedia;
  }
  deliver(buf: Uint8Array, length: number, source: number, seq: number, ts: number): void {
    this.#port.postMessage([buf.slice(0, length), source, seq, ts]);
  }
}
