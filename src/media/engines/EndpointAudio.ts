import type { EndpointMediaConfig } from '../../protocol/index.ts';
import type { Codec } from '../codecs/Codec.ts';
import { createCodec } from '../codecs/index.ts';
import { JitterBuffer, JB_EMPTY, JB_LOST, type JitterBufferStats } from '../dsp/JitterBuffer.ts';
import type { RtpEndpoint } from '../transport/RtpEndpoint.ts';
import type { Clocked, MediaClock } from './MediaClock.ts';
import { codecOptions } from './Transcoder.ts';

/** Receives the decoded audio of an endpoint: what it received ('in') and what it sent ('out'). */
export interface AudioTap {
  /** `pcm` is only valid during the call (a reused buffer): copy what must be kept. */
  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void;
}

/** Produces the endpoint's outbound audio, one frame per media clock tick. */
export interface FrameSource {
  /** Writes exactly `out.length` samples at the endpoint's PCM rate; returns 0 when finished. */
  fill(out: Int16Array, nowMs: number): number;
  /**
   * true once the frame just filled was the last: the endpoint hands its outbound audio over in
   * the same tick (onEnded, the next source, the relay) instead of one fill() later. Sources
   * that cannot tell leave it out and end with fill() returning 0.
   */
  readonly ended?: boolean;
  /** Called once when the source is replaced or the endpoint closes (not when fill() returns 0). */
  detach?(reason: 'replaced' | 'closed'): void;
}

const SOURCE_TOKEN_BASE = 0x5eed0000;
/** Packet buffers per endpoint (power of two): more than the sends of one clock catch-up (5 ticks + events). */
const PACKET_RING = 16;
let sourceSerial = 0;
/** Concealment without a codec PLC: the last frame again, 6 dB down each time. */
const FADE = 0.5;

/**
 * The PCM side of one endpoint, created on demand by the engines: received audio goes through
 * an adaptive jitter buffer with loss concealment and is decoded on the media clock for taps
 * (recorders, DTMF detector), and generated frames (player, mixer output) are encoded generated frames (player,
 * mixer output) into our continuous outbound RTP stream. While a generated source is attached
 * the relayed stream of a bridge peer is suppressed (one outbound source at a time).
 */
export class EndpointAudio implements Clocked {
  readonly endpoint: RtpEndpoint;
  readonly #clock: MediaClock;
  readonly taps = new Set<AudioTap>();
  #decoder: Codec | null = null;
  #encoder: Codec | null = null;
  #codecKey = '';
  #codecMedia: EndpointMediaConfig | null = null;
  #source: FrameSource | null = null;
  #sourceToken = 0;
  #onSourceEnded: ((source: FrameSource) => void) | null = null;
  #override: FrameSource | null = null;
  #onOverrideEnded: ((source: FrameSource) => void) | null = null;
  readonly #pcmIn = new Int16Array(48000 * 0.12);
  #pcmOut = new Int16Array(160);
  // dgram.send() reads the bytes on a later tick (its address lookup defers to nextTick), so a
  // clock catching up several ticks at once must not reuse one buffer: a small ring of them.
  readonly #packets: Uint8Array[] = Array.from({ length: PACKET_RING }, () => new Uint8Array(1500));
  #packetIndex = 0;
  // Inbound: received payloads go through an adaptive jitter buffer and are decoded (or
  // concealed) on the media clock, so taps get evenly timed frames whatever the network did.
  readonly #inbound: Clocked = { onTick: (nowMs) => this.#pullInbound(nowMs) };
  #inboundClocked = false;
  #jb: JitterBuffer | null = null;
  #jbKey = '';
  #jbMedia: EndpointMediaConfig | null = null;
  readonly #jbPayload = new Uint8Array(1500);
  #jbView = this.#jbPayload.subarray(0, 0);
  #inDueMs = 0;
  #haveLast = false;
  #lastSamples = 0;
  concealedFrames = 0;

  constructor(endpoint: RtpEndpoint, clock: MediaClock) {
    this.endpoint = endpoint;
    this.#clock = clock;
  }

  /** PCM rate of the negotiated codec (8000 for G.711, 16000 for G.722, 48000 for Opus). */
  get sampleRate(): number {
    this.#ensureCodecs();
    return this.#decoder ? this.#decoder.sampleRate : 8000;
  }

  /** Samples per frame at the PCM rate (ptime). */
  get frameSamples(): number {
    const media = this.endpoint.media;
    const ptime = media ? media.codec.ptime : 20;
    return Math.round((this.sampleRate * ptime) / 1000);
  }

  #ensureCodecs(): void {
    const media = this.endpoint.media;
    // Called per frame and per packet: the key is built only after a renegotiation.
    if (!media || media === this.#codecMedia) return;
    const key = `${media.codec.name}/${media.codec.clockRate}`;
    if (key !== this.#codecKey) {
      this.#decoder?.close?.();
      this.#encoder?.close?.();
      this.#decoder = createCodec(media.codec.name, codecOptions(media.codec));
      this.#encoder = createCodec(media.codec.name, codecOptions(media.codec));
      this.#codecKey = key;
    }
    this.#codecMedia = media;
  }

  /** Received audio packet (called by the endpoint for every audio packet while taps exist). */
  onReceived(seq: number, ts: number, payload: Uint8Array, nowMs: number): void {
    if (this.taps.size === 0) return;
    this.#ensureCodecs();
    const media = this.endpoint.media;
    if (!this.#decoder || !media) return;
    // Checked again only after a renegotiation (a new media object), not per packet. The codec
    // name is part of the key: payloads buffered in the old codec must not reach the new decoder.
    if (this.#jb === null || media !== this.#jbMedia) {
      this.#jbMedia = media;
      const key = `${media.codec.name}/${media.codec.clockRate}/${media.codec.ptime}`;
      if (this.#jb === null || key !== this.#jbKey) {
        this.#jb = new JitterBuffer({ clockRate: media.codec.clockRate, frameMs: media.codec.ptime > 0 ? media.codec.ptime : 20 });
        this.#jbKey = key;
      }
    }
    this.#jb.put((seq - this.endpoint.eventPackets) & 0xffff, ts, payload, nowMs);
    if (!this.#inboundClocked) {
      this.#inboundClocked = true;
      this.#inDueMs = 0;
      this.#clock.add(this.#inbound);
    }
  }

  /** Drops received audio not yet delivered to taps (a recording resumed after a pause). */
  discardBuffered(): void {
    this.#jb?.reset();
    this.#haveLast = false;
  }

  /** Jitter buffer counters of the received stream (late, lost, concealed...), null if unused. */
  get jitterBuffer(): { stats: JitterBufferStats; targetDelayMs: number } | null {
    return this.#jb === null ? null : { stats: this.#jb.stats, targetDelayMs: this.#jb.targetDelayMs };
  }

  #pullInbound(nowMs: number): void {
    const jb = this.#jb;
    const decoder = this.#decoder;
    const media = this.endpoint.media;
    if (this.taps.size === 0 || jb === null || decoder === null || media === null) {
      this.#clock.delete(this.#inbound);
      this.#inboundClocked = false;
      jb?.reset();
      return;
    }
    const ptime = media.codec.ptime > 0 ? media.codec.ptime : 20;
    this.#inDueMs += 20;
    while (this.#inDueMs >= ptime) {
      this.#inDueMs -= ptime;
      const r = jb.get(this.#jbPayload, nowMs);
      if (r === JB_EMPTY) {
        this.#haveLast = false; // the peer paused (hold, DTX): taps hear nothing, as on the wire
        continue;
      }
      const pcm = this.#pcmIn;
      let n = 0;
      if (r === JB_LOST) {
        const frame = Math.round((decoder.sampleRate * ptime) / 1000);
        if (decoder.conceal !== undefined) n = decoder.conceal(pcm, frame);
        else if (this.#haveLast) {
          n = this.#lastSamples;
          for (let i = 0; i < n; i++) pcm[i] = (pcm[i]! * FADE) | 0;
        }
        if (n <= 0) continue;
        this.concealedFrames++;
      } else {
        if (this.#jbView.length !== r) this.#jbView = this.#jbPayload.subarray(0, r);
        try {
          n = decoder.decode(this.#jbView, pcm);
        } catch {
          continue;
        }
        if (n <= 0) continue;
        this.#haveLast = true;
        this.#lastSamples = n;
      }
      const frame = pcm.subarray(0, n);
      for (const tap of this.taps) tap.onAudio(frame, decoder.sampleRate, 'in', nowMs);
    }
  }

  get source(): FrameSource | null {
    return this.#source;
  }

  /**
   * Makes `source` the outbound audio from the next tick on. `onEnded` is called when fill()
   * returns 0. The previous source, if any, is detached with 'replaced'.
   */
  setSource(source: FrameSource | null, onEnded: ((source: FrameSource) => void) | null = null): void {
    const previous = this.#source;
    this.#source = source;
    this.#onSourceEnded = onEnded;
    this.#sourceToken = (SOURCE_TOKEN_BASE + ++sourceSerial) >>> 0;
    if (previous && previous !== source) previous.detach?.('replaced');
    if (source === null) {
      this.endpoint.sender.resetSource(); // a resumed relay starts a new talkspurt
      if (this.#override === null) this.#clock.delete(this);
    } else {
      this.#clock.add(this);
    }
  }

  /**
   * Plays `source` in place of the current source for a while (in-band DTMF tones while a prompt
   * plays) without detaching it: the current source is not pulled meanwhile and resumes where it
   * was once `source`'s fill() returns 0 (then `onEnded`). Only meaningful while a source is
   * attached: with none, use setSource() so the bridge relay is suppressed.
   */
  setOverride(source: FrameSource | null, onEnded: ((source: FrameSource) => void) | null = null): void {
    const previous = this.#override;
    this.#override = source;
    this.#onOverrideEnded = onEnded;
    if (previous && previous !== source) previous.detach?.('replaced');
    if (source !== null) this.#clock.add(this);
    else if (this.#source === null) this.#clock.delete(this);
  }

  #nextPacket(): Uint8Array {
    this.#packetIndex = (this.#packetIndex + 1) & (PACKET_RING - 1);
    return this.#packets[this.#packetIndex] as Uint8Array;
  }

  onTick(nowMs: number): void {
    this.tick(nowMs);
  }

  /** One media clock tick: pull a frame from the source, encode and send it. */
  tick(nowMs: number): void {
    const override = this.#override;
    const source = override ?? this.#source;
    if (source === null) return;
    this.#ensureCodecs();
    const encoder = this.#encoder;
    const media = this.endpoint.media;
    if (!encoder || !media) return;
    const samples = this.frameSamples;
    if (this.#pcmOut.length !== samples) this.#pcmOut = new Int16Array(samples);
    const pcm = this.#pcmOut;
    const n = source.fill(pcm, nowMs);
    if (n === 0) {
      this.#ended(source, override);
      // Nothing went out this tick: the idle fill (if it already ran, it stood aside) takes it.
      if (this.#source === null) this.endpoint.idleFill?.onTick(nowMs);
      return;
    }
    for (const tap of this.taps) tap.onAudio(pcm, encoder.sampleRate, 'out', nowMs);
    if (this.endpoint.canSend) {
      const packet = this.#nextPacket();
      const bytes = encoder.encode(pcm, packet.subarray(12));
      const clockSamples = Math.round((media.codec.clockRate * media.codec.ptime) / 1000);
      this.endpoint.sender.writeHeader(packet, media.codec.payloadType, this.#sourceToken, clockSamples, nowMs);
      this.endpoint.send(packet, 12 + bytes);
    }
    // Its last frame is out: whatever comes next (a beep, the relay) may start at once.
    if (source.ended === true) this.#ended(source, override);
  }

  /** `source` (the override when not null) has finished: hand the outbound audio over. */
  #ended(source: FrameSource, override: FrameSource | null): void {
    if (override !== null) {
      this.#override = null;
      const ended = this.#onOverrideEnded;
      this.#onOverrideEnded = null;
      if (this.#source === null) this.#clock.delete(this);
      ended?.(override);
      return;
    }
    if (this.#source === source) {
      this.#source = null;
      this.#clock.delete(this);
      this.endpoint.sender.resetSource();
      const ended = this.#onSourceEnded;
      this.#onSourceEnded = null;
      ended?.(source);
    }
  }

  /** Sends a packet whose payload the caller wrote at offset 12 (DTMF events): header from our stream. */
  sendEvent(payloadType: number, payloadLength: number, payload: Uint8Array, samples: number, marker: boolean, nowMs: number): void {
    const packet = this.#nextPacket();
    packet.set(payload.subarray(0, payloadLength), 12);
    this.endpoint.sender.writeHeader(packet, payloadType, this.#sourceToken, samples, nowMs, marker);
    this.endpoint.send(packet, 12 + payloadLength);
  }

  close(): void {
    const source = this.#source;
    const override = this.#override;
    this.#source = null;
    this.#override = null;
    this.#clock.delete(this);
    this.#clock.delete(this.#inbound);
    this.#inboundClocked = false;
    source?.detach?.('closed');
    override?.detach?.('closed');
    this.taps.clear();
    this.#decoder?.close?.();
    this.#encoder?.close?.();
    this.#decoder = null;
    this.#encoder = null;
  }
}
