import type { Doorbell } from '../../common/Doorbell.ts';
import type { SpscRing } from '../../common/SpscRing.ts';
import type { EndpointMediaConfig } from '../../protocol/index.ts';
import type { MediaSink, RtpEndpoint } from '../transport/RtpEndpoint.ts';
import { Drop } from '../transport/dropReasons.ts';
import { createTranscoder, sameCodec, type Transcoder } from './Transcoder.ts';
import { tsAdd, tsDiff } from '../../common/seq.ts';
import { JitterBuffer, JB_EMPTY, JB_LOST } from '../dsp/JitterBuffer.ts';
import type { Clocked, MediaClock } from './MediaClock.ts';

/** How long after its last packet a cross-worker ring counts as settled for the relay offload (ms). */
const RING_SETTLE_MS = 5;

/** Media clock ticks without input before a transcoding link stops ticking (1 s). */
const IDLE_TICKS = 50;

/** Delivers a packet already converted for the destination leg: local endpoint or another worker. */
export interface LinkTarget {
  /** The destination leg's negotiated media (null until it is configured). */
  media(): EndpointMediaConfig | null;
  deliver(buf: Uint8Array, length: number, source: number, seq: number, ts: number, nowMs: number): void;
  /** The destination's sender block (RtpSender.block), for the relay offload; null: none known. */
  senderBlock?(): SharedArrayBuffer | null;
  /**
   * Whether everything delivered so far has left (the addon may take over without overtaking
   * it); absent: always (a local target sends before deliver() returns).
   */
  settled?(nowMs: number): boolean;
}

let nextSerial = 1;

/**
 * One direction of a bridge: media received on `from` goes to `target`. Same codec: the packet
 * is forwarded as received with only its payload type mapped (relay, no decode). Different
 * codecs: the payload is transcoded; decoding codecs go through an adaptive jitter buffer with
 * loss concealment and are re-encoded on the media clock. Telephone-events keep their
 * payload, with the payload type and (when clock rates differ) timestamp/duration scaled.
 * The destination's sender rewrites SSRC/sequence/timestamp to keep its stream continuous.
 */
export class BridgeLink implements MediaSink {
  readonly #target: LinkTarget;
  readonly #from: RtpEndpoint;
  readonly #serial = (nextSerial++ * 0x9e3779b1) >>> 0;
  // dgram.send() reads its buffer after returning: consecutive output frames need their own.
  // dgram.send() reads each buffer on a later tick: a clock catching up (5 ticks at once, several
  // frames each after a burst) must not reuse one before it went out.
  readonly #outRing: Uint8Array[] = Array.from({ length: 32 }, () => new Uint8Array(1500));
  #outIndex = 0;
  #outSeq = 0;
  #frameTs = 0;
  #nextInTs = 0;
  #framing = false;
  #transcoder: Transcoder | null = null;
  #transcoderKey = '';
  #transcoderSrc: EndpointMediaConfig | null = null;
  #transcoderDst: EndpointMediaConfig | null = null;
  // Timestamp scaling between clock rates (transcoding Opus 48 kHz <-> 8 kHz).
  #lastTsIn = 0;
  #tsOut = 0;
  #tsStarted = false;
  #lastSsrc = -1;
  /** Changed when a relayed packet is dropped: the next one starts a new talkspurt (no sequence gap). */
  #salt = 0;
  relayed = 0;
  // Decoding transcoders: jitter buffer drained on the media clock.
  readonly #clock: MediaClock | null;
  readonly #ticker: Clocked = { onTick: (nowMs) => this.#onTick(nowMs) };
  #ticking = false;
  #jb: JitterBuffer | null = null;
  #jbKey = '';
  #jbMedia: EndpointMediaConfig | null = null;
  readonly #jbPayload = new Uint8Array(1500);
  #jbView = this.#jbPayload.subarray(0, 0);
  #idleTicks = 0;
  #restarts = 0;

  constructor(from: RtpEndpoint, target: LinkTarget, clock: MediaClock | null = null) {
    this.#from = from;
    this.#target = target;
    this.#clock = clock;
  }

  /** The destination leg when it lives in this worker (the DTMF engine converts events for it). */
  get peer(): RtpEndpoint | null {
    return this.#target instanceof LocalTarget ? this.#target.endpoint : null;
  }

  /** The playout jitter buffer of a decoding transcode (null while relaying). */
  get jitterBuffer(): JitterBuffer | null {
    return this.mode === 'transcode' ? this.#jb : null;
  }

  /** 'relay' when both legs share a codec, else 'transcode'. */
  get mode(): 'relay' | 'transcode' {
    const a = this.#from.media;
    const b = this.#target.media();
    return a && b && !sameCodec(a.codec, b.codec) ? 'transcode' : 'relay';
  }

  onPacket(
    buf: Buffer,
    payloadOffset: number,
    payloadLength: number,
    isEvent: boolean,
    seq: number,
    ts: number,
    ssrc: number,
    nowMs: number,
  ): void {
    const src = this.#from.media;
    const dst = this.#target.media();
    if (src === null || dst === null) return;
    if (ssrc !== this.#lastSsrc) {
      this.#lastSsrc = ssrc;
      this.#tsStarted = false;
      this.#framing = false;
      this.#from.offloadChanged(); // a route names the source's SSRC
    }
    const source = (this.#serial ^ ssrc ^ this.#salt) >>> 0;
    // Timestamps of events too are on the audio timeline (they share the stream, RFC 4733 2.1);
    // event durations are in the telephone-event clock, which may differ from the codec's.
    const srcClock = src.codec.clockRate;
    const dstClock = dst.codec.clockRate;
    const tsOut = srcClock === dstClock ? ts : this.#scaleTs(ts, srcClock, dstClock);
    if (isEvent) {
      // RFC 4733 -> in-band: the DTMF engine hears these events too and plays tones on `peer`.
      if (dst.telephoneEvent === null) return;
      buf[1] = (buf[1]! & 0x80) | dst.telephoneEvent.payloadType;
      const srcEventClock = src.telephoneEvent!.clockRate;
      const dstEventClock = dst.telephoneEvent.clockRate;
      if (srcEventClock !== dstEventClock && payloadLength >= 4) {
        const at = payloadOffset + 2;
        const duration = Math.min(
          0xffff,
          Math.round((((buf[at]! << 8) | buf[at + 1]!) * dstEventClock) / srcEventClock),
        );
        buf[at] = duration >>> 8;
        buf[at + 1] = duration & 0xff;
      }
      this.relayed++;
      this.#target.deliver(buf, buf.length, source, seq, tsOut, nowMs);
      // Across workers the event is on its way through the ring: the addon must not send the
      // audio after it first (re-armed once the ring has drained).
      if (this.#target.settled !== undefined) this.#from.offloadChanged();
      return;
    }
    const cn = src.comfortNoise;
    if (cn != null && (buf[1]! & 0x7f) === cn.payloadType) {
      // The peer's silence (RFC 3389 SID). Relayed to a leg that negotiated CN (both at their
      // codec's clock), so its peer sees no sequence gap and no silent wire; never decoded as
      // audio. A transcoding link drops it: its output pauses, as with DTX.
      const dstCn = dst.comfortNoise;
      if (dstCn == null || !sameCodec(src.codec, dst.codec)) {
        // Not passed on: the next packet continues our stream as a new talkspurt (next sequence
        // number, timestamp by the elapsed time, marker), not after a gap its peer counts as loss.
        this.#salt = (this.#salt + 0x9e3779b1) >>> 0;
        this.#from.offloadChanged(); // the route's source token changed with it
        return;
      }
      buf[1] = (buf[1]! & 0x80) | dstCn.payloadType;
      this.relayed++;
      this.#target.deliver(buf, buf.length, source, seq, tsOut, nowMs);
      if (this.#target.settled !== undefined) this.#from.offloadChanged();
      return;
    }
    if (sameCodec(src.codec, dst.codec)) {
      // Renegotiated from transcoding to relay: frames still buffered for the old codec must not follow.
      if (this.#ticking) this.#stopTicking();
      buf[1] = (buf[1]! & 0x80) | dst.codec.payloadType;
      this.relayed++;
      this.#target.deliver(buf, buf.length, source, seq, tsOut, nowMs);
      return;
    }
    const payload = buf.subarray(payloadOffset, payloadOffset + payloadLength);
    const transcoder = this.#transcoderFor(src, dst);
    if (transcoder.decodes && this.#clock !== null) this.#buffer(payload, seq, ts, src, nowMs);
    else this.#transcode(payload, (buf[1]! & 0x80) !== 0, src, dst, source, tsOut, nowMs);
  }

  /**
   * The relay offload (MediaSink.offloadFor): a same-codec link only rewrites headers, which the
   * addon can do itself for packets of the SSRC this link last saw, into the destination's
   * sender block with the source token onPacket() would use. `ready` false: not yet (a packet
   * still crossing to the other worker could be overtaken).
   */
  offloadFor(ssrc: number, nowMs: number): { sender: SharedArrayBuffer; token: number; ready: boolean } | null {
    const src = this.#from.media;
    const dst = this.#target.media();
    if (src === null || dst === null || ssrc !== this.#lastSsrc || this.#ticking || !sameCodec(src.codec, dst.codec))
      return null;
    const sender = this.#target.senderBlock?.() ?? null;
    if (sender === null) return null;
    const ready = this.#target.settled === undefined || this.#target.settled(nowMs);
    return { sender, token: (this.#serial ^ ssrc ^ this.#salt) >>> 0, ready };
  }

  offloaded(): void {
    this.relayed++;
  }

  /** A decoding transcode: into the jitter buffer; #onTick decodes, re-frames and sends. */
  #buffer(payload: Uint8Array, seq: number, ts: number, src: EndpointMediaConfig, nowMs: number): void {
    // The key is built only after a renegotiation (a new media object), not per packet.
    if (this.#jb === null || src !== this.#jbMedia) {
      const ptime = src.codec.ptime > 0 ? src.codec.ptime : 20;
      const key = `${src.codec.clockRate}/${ptime}`;
      if (this.#jb === null || key !== this.#jbKey) {
        this.#jb = new JitterBuffer({ clockRate: src.codec.clockRate, frameMs: ptime });
        this.#jbKey = key;
      }
      this.#jbMedia = src;
    }
    this.#jb.put((seq - this.#from.eventPackets) & 0xffff, ts, payload, nowMs);
    this.#idleTicks = 0;
    if (!this.#ticking && this.#clock !== null) {
      this.#ticking = true;
      this.#clock.add(this.#ticker);
    }
  }

  #stopTicking(): void {
    if (this.#ticking && this.#clock !== null) this.#clock.delete(this.#ticker);
    this.#ticking = false;
    this.#jb?.reset();
    this.#framing = false;
  }

  #onTick(nowMs: number): void {
    const src = this.#from.media;
    const dst = this.#target.media();
    const transcoder = this.#transcoder;
    const jb = this.#jb;
    if (src === null || dst === null || transcoder === null || jb === null || !transcoder.decodes) {
      this.#stopTicking();
      return;
    }
    // One output frame per tick: take packets from the jitter buffer until the transcoder holds
    // a frame's worth (senders' packet sizes need not match our frame: 16 ms, 30 ms...).
    const need = transcoder.frameClock;
    let ok = false;
    for (let gets = 0; transcoder.backlogClock < need && gets < 4; gets++) {
      const r = jb.get(this.#jbPayload, nowMs);
      if (r === JB_EMPTY) {
        // The sender paused (or has not started): output pauses too; a restart re-bases the
        // destination stream's timestamps on the elapsed time (new source token, marker).
        if (this.#framing) {
          this.#framing = false;
          transcoder.reset();
        }
        if (++this.#idleTicks > IDLE_TICKS) {
          this.#stopTicking();
          return;
        }
        break;
      }
      this.#idleTicks = 0;
      if (r === JB_LOST) {
        ok = transcoder.conceal() || ok;
      } else {
        if (this.#jbView.length !== r) this.#jbView = this.#jbPayload.subarray(0, r);
        if (transcoder.push(this.#jbView)) ok = true;
        else this.#from.drops[Drop.TRANSCODE_FAILED]! += 1;
      }
    }
    if (!ok && transcoder.backlogClock < need) return;
    let marker = false;
    if (!this.#framing) {
      this.#framing = true;
      this.#restarts++;
      marker = true;
    }
    this.#emitFrames(transcoder, dst, (this.#serial ^ 0x5a5a0000 ^ this.#restarts) >>> 0, marker, nowMs);
  }

  /** Sends every frame the transcoder holds, continuing the link's output sequence and timestamps. */
  #emitFrames(transcoder: Transcoder, dst: EndpointMediaConfig, source: number, marker: boolean, nowMs: number): void {
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
      this.#target.deliver(out, 12 + n, source, this.#outSeq, this.#frameTs, nowMs);
      this.#frameTs = tsAdd(this.#frameTs, transcoder.lastFrameClock);
    }
  }

  /**
   * Transcoded audio is re-framed to the destination's packet time, so it gets its own output
   * sequence and timestamps (one input packet may give zero, one or two output frames). A gap
   * in the input timestamps (silence suppression, loss, a new source) restarts the framing at
   * the input's time so audio stays aligned with the clock.
   */
  #transcode(
    payload: Uint8Array,
    marker: boolean,
    src: EndpointMediaConfig,
    dst: EndpointMediaConfig,
    source: number,
    tsIn: number,
    nowMs: number,
  ): void {
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
    this.#emitFrames(transcoder, dst, (source ^ 1) >>> 0, marker, nowMs);
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
    // Per packet: the key is built only when either leg's media changed.
    if (this.#transcoder !== null && src === this.#transcoderSrc && dst === this.#transcoderDst)
      return this.#transcoder;
    const key = `${src.codec.name}/${src.codec.clockRate}>${dst.codec.name}/${dst.codec.clockRate}`;
    if (this.#transcoder === null || key !== this.#transcoderKey) {
      if (this.#transcoder) this.#transcoder.close();
      this.#transcoder = createTranscoder(src.codec, dst.codec);
      this.#transcoderKey = key;
      this.#framing = false;
      // Payloads buffered before a renegotiation are in the old codec (same clock and ptime
      // keep the jitter buffer): the new decoder must not see them.
      this.#jb?.reset();
    }
    this.#transcoderSrc = src;
    this.#transcoderDst = dst;
    return this.#transcoder;
  }

  close(): void {
    this.#stopTicking();
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
  senderBlock(): SharedArrayBuffer {
    return this.#endpoint.sender.block;
  }
}

/**
 * A destination leg on another worker: the converted packet is copied into a shared-memory ring
 * that the other worker drains (RingInbox), waking it only when it sleeps. A full ring drops
 * the packet and counts it on the receiving leg (`bridge_ring_full`).
 */
export class RingTarget implements LinkTarget {
  readonly #ring: SpscRing;
  readonly #bell: Doorbell;
  readonly #drops: Uint32Array;
  peerMedia: EndpointMediaConfig;
  readonly #peerSender: SharedArrayBuffer | null;
  #lastPushMs = Number.NEGATIVE_INFINITY;
  constructor(
    ring: SpscRing,
    bell: Doorbell,
    peerMedia: EndpointMediaConfig,
    drops: Uint32Array,
    peerSender: SharedArrayBuffer | null = null,
  ) {
    this.#ring = ring;
    this.#bell = bell;
    this.peerMedia = peerMedia;
    this.#drops = drops;
    this.#peerSender = peerSender;
  }
  media(): EndpointMediaConfig | null {
    return this.peerMedia;
  }
  /** The other worker's leg's sender block: the addon relays into it from this thread. */
  senderBlock(): SharedArrayBuffer | null {
    return this.#peerSender;
  }
  deliver(buf: Uint8Array, length: number, source: number, seq: number, ts: number, nowMs: number): void {
    this.#lastPushMs = nowMs;
    if (this.#ring.push(buf, length, source, seq, ts)) this.#bell.ring();
    else this.#drops[Drop.BRIDGE_RING_FULL]! += 1;
  }

  /**
   * The other worker has taken every packet from the ring and had time to send it: only then may
   * this worker's addon relay into that leg's stream, or a packet it sends at once could overtake
   * one still on its way through the ring (a burst as the route is armed).
   */
  settled(nowMs: number): boolean {
    return this.#ring.used === 0 && nowMs - this.#lastPushMs >= RING_SETTLE_MS;
  }
}
