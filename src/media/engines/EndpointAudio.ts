import type { Codec } from '../codecs/Codec.ts';
import { createCodec } from '../codecs/index.ts';
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
  /** Called once when the source is replaced or the endpoint closes (not when fill() returns 0). */
  detach?(reason: 'replaced' | 'closed'): void;
}

const SOURCE_TOKEN_BASE = 0x5eed0000;
/** Packet buffers per endpoint (power of two): more than the sends of one clock catch-up (5 ticks + events). */
const PACKET_RING = 16;
let sourceSerial = 0;

/**
 * The PCM side of one endpoint, created on demand by the engines: decodes received audio for
 * taps (recorders, DTMF detector, conference mixer) and encodes generated frames (player,
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
    if (!media) return;
    const key = `${media.codec.name}/${media.codec.clockRate}`;
    if (key === this.#codecKey) return;
    this.#decoder?.close?.();
    this.#encoder?.close?.();
    this.#decoder = createCodec(media.codec.name, codecOptions(media.codec));
    this.#encoder = createCodec(media.codec.name, codecOptions(media.codec));
    this.#codecKey = key;
  }

  /** Received audio payload (called by the endpoint for every audio packet while taps exist). */
  onReceived(payload: Uint8Array, nowMs: number): void {
    if (this.taps.size === 0) return;
    this.#ensureCodecs();
    if (!this.#decoder) return;
    let n: number;
    try {
      n = this.#decoder.decode(payload, this.#pcmIn);
    } catch {
      return;
    }
    if (n <= 0) return;
    const pcm = this.#pcmIn.subarray(0, n);
    const rate = this.#decoder.sampleRate;
    for (const tap of this.taps) tap.onAudio(pcm, rate, 'in', nowMs);
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
      return;
    }
    for (const tap of this.taps) tap.onAudio(pcm, encoder.sampleRate, 'out', nowMs);
    if (!this.endpoint.canSend) return;
    const packet = this.#nextPacket();
    const bytes = encoder.encode(pcm, packet.subarray(12));
    const clockSamples = Math.round((media.codec.clockRate * media.codec.ptime) / 1000);
    this.endpoint.sender.writeHeader(packet, media.codec.payloadType, this.#sourceToken, clockSamples, nowMs);
    this.endpoint.send(packet, 12 + bytes);
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
    source?.detach?.('closed');
    override?.detach?.('closed');
    this.taps.clear();
    this.#decoder?.close?.();
    this.#encoder?.close?.();
    this.#decoder = null;
    this.#encoder = null;
  }
}
