import type { EndpointMediaConfig } from '../../protocol/index.ts';
import type { Codec } from '../codecs/Codec.ts';
import { createCodec } from '../codecs/index.ts';
import { tsDiff } from '../../common/seq.ts';
import { PacketOrderer, ORDER_LOST, ORDER_WAIT } from '../dsp/PacketOrderer.ts';
import type { EndpointAudioSide, ReceivedAudioStats, RtpEndpoint } from '../transport/RtpEndpoint.ts';
import type { Clocked, MediaClock } from './MediaClock.ts';
import { codecOptions } from './Transcoder.ts';

/** Receives the decoded audio of an endpoint: what it received ('in') and what it sent ('out'). */
export interface AudioTap {
  /**
   * `pcm` is only valid during the call (a reused buffer): copy what must be kept.
   * 'in': decoded on arrival in sequence order; `nowMs` is the packet's arrival, `position` its
   * place on the sender's timeline (RTP timestamp offset, in samples at `sampleRate`, from the
   * start of stream `epoch`; `epoch` changes when the sender does: new SSRC, sequence jump,
   * codec change). 'out': what we sent, one frame per media clock tick at `nowMs`; position -1.
   */
  onAudio(
    pcm: Int16Array,
    sampleRate: number,
    direction: 'in' | 'out',
    nowMs: number,
    position: number,
    epoch: number,
  ): void;
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

/**
 * The taps of an endpoint's decoded audio. The transport decodes only while one exists, so the
 * first tap after none starts a new received stream (`onFirst`): the packets missed meanwhile
 * are neither waited for nor concealed. `onChange` hears when the set goes from empty to not
 * (or back): the relay offload stands aside while anyone listens.
 */
class TapSet extends Set<AudioTap> {
  readonly #onFirst: () => void;
  readonly #onChange: () => void;
  constructor(onFirst: () => void, onChange: () => void) {
    super();
    this.#onFirst = onFirst;
    this.#onChange = onChange;
  }
  override add(tap: AudioTap): this {
    const first = this.size === 0;
    if (first) this.#onFirst();
    super.add(tap);
    if (first) this.#onChange();
    return this;
  }
  override delete(tap: AudioTap): boolean {
    const had = super.delete(tap);
    if (had && this.size === 0) this.#onChange();
    return had;
  }
  override clear(): void {
    const had = this.size > 0;
    super.clear();
    if (had) this.#onChange();
  }
}

const SOURCE_TOKEN_BASE = 0x5eed0000;
/** Packet buffers per endpoint (power of two): more than the sends of one clock catch-up (5 ticks + events). */
const PACKET_RING = 16;
let sourceSerial = 0;
/** Concealment without a codec PLC: the last frame again, 6 dB down each time. */
const FADE = 0.5;
/** Consecutive lost packets concealed; beyond, the gap is silent. */
const MAX_CONCEAL = 5;

/**
 * The PCM side of one endpoint, created on demand by the engines: received audio is put back in
 * sequence order, decoded on arrival with loss concealment and handed to taps (recorders, DTMF
 * detector) with its place on the sender's timeline; generated frames (player, mixer output) are
 * encoded into our continuous outbound RTP stream. While a generated source is attached
 * the relayed stream of a bridge peer is suppressed (one outbound source at a time).
 */
export class EndpointAudio implements Clocked, EndpointAudioSide {
  readonly endpoint: RtpEndpoint;
  readonly #clock: MediaClock;
  readonly taps: Set<AudioTap> = new TapSet(
    () => this.#restartReceived(),
    () => this.endpoint.offloadChanged(),
  );
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
  #frameView = this.#pcmIn.subarray(0, 0);
  #pcmOut = new Int16Array(160);
  // dgram.send() reads the bytes on a later tick (its address lookup defers to nextTick), so a
  // clock catching up several ticks at once must not reuse one buffer: a small ring of them.
  readonly #packets: Uint8Array[] = Array.from({ length: PACKET_RING }, () => new Uint8Array(1500));
  #packetIndex = 0;
  // Inbound: received payloads are put back in sequence order (no playout delay) and decoded on
  // arrival, with their RTP timestamp as position: taps (recordings, the DTMF detector) follow
  // the sender's timeline, whatever the media clock's lateness. The clock is used only to end the
  // wait for a reordered packet.
  readonly #inbound: Clocked = { onTick: (nowMs) => this.#drainReceived(nowMs, false) };
  #inboundClocked = false;
  readonly #orderer = new PacketOrderer();
  #orderMedia: EndpointMediaConfig | null = null;
  #ssrc = -1;
  readonly #payload = new Uint8Array(1500);
  #payloadView = this.#payload.subarray(0, 0);
  #epoch = 0;
  #haveTs = false;
  #lastTs = 0;
  #extTs = 0;
  /** Position (samples at the decoder's rate) where the last decoded or concealed audio ended. */
  #streamEnd = 0;
  #lostRun = 0;
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

  /**
   * Received audio packet (called by the endpoint for every audio packet while taps exist): the
   * payload is `length` bytes of `payload` from `offset` (the datagram itself, no view per packet).
   */
  onReceived(
    seq: number,
    ts: number,
    payload: Uint8Array,
    nowMs: number,
    ssrc = 0,
    offset = 0,
    length = payload.length - offset,
  ): void {
    if (this.taps.size === 0) return;
    this.#ensureCodecs();
    const media = this.endpoint.media;
    if (!this.#decoder || !media) return;
    // A renegotiation (new media object) or another sender starts a new stream: positions and
    // decoder history of the old one do not carry over.
    if (media !== this.#orderMedia || ssrc !== this.#ssrc) {
      if (this.#orderMedia !== null) this.#orderer.reset();
      this.#orderMedia = media;
      this.#ssrc = ssrc;
    }
    this.#orderer.put((seq - this.endpoint.eventPackets) & 0xffff, ts, payload, nowMs, offset, length);
    this.#drainReceived(nowMs, false);
    if (this.#orderer.held > 0 && !this.#inboundClocked) {
      this.#inboundClocked = true;
      this.#clock.add(this.#inbound);
    }
  }

  /** Forgets the received stream (the first tap after none): what comes next starts a new epoch. */
  #restartReceived(): void {
    // the orderer's next packet starts a new stream (new epoch, timestamps from there)
    this.#orderer.reset();
    this.#haveLast = false;
    this.#lostRun = 0;
  }

  /** Hands every received packet still waiting behind a gap to the taps now (a recording stops). */
  flushReceived(): void {
    this.#drainReceived(performance.now(), true);
  }

  /** Counters of the received-audio decoding path, null before it was used. */
  get receivedStats(): ReceivedAudioStats | null {
    if (this.#orderMedia === null) return null;
    const s = this.#orderer.stats;
    return {
      received: s.received,
      late: s.late,
      lost: s.lost,
      concealed: this.concealedFrames,
      duplicates: s.duplicates,
      discarded: s.discarded,
    };
  }

  #drainReceived(nowMs: number, force: boolean): void {
    const decoder = this.#decoder;
    const media = this.endpoint.media;
    const orderer = this.#orderer;
    if (this.taps.size === 0 || decoder === null || media === null) {
      orderer.reset();
      this.#stopInbound();
      return;
    }
    const pcm = this.#pcmIn;
    const rate = decoder.sampleRate;
    for (;;) {
      const r = orderer.next(this.#payload, nowMs, force);
      if (r === ORDER_WAIT) break;
      let n = 0;
      let position = this.#streamEnd;
      if (r === ORDER_LOST) {
        // Real loss (a sequence number past the reorder window): conceal a few frames at the
        // lost packet's place; a longer gap stays silent (its place comes from the next timestamp).
        if (!this.#haveLast || ++this.#lostRun > MAX_CONCEAL) continue;
        const ptime = media.codec.ptime > 0 ? media.codec.ptime : 20;
        const frame = Math.round((rate * ptime) / 1000);
        if (decoder.conceal !== undefined) n = decoder.conceal(pcm, frame);
        else {
          n = this.#lastSamples;
          for (let i = 0; i < n; i++) pcm[i] = (pcm[i]! * FADE) | 0;
        }
        if (n <= 0) continue;
        this.concealedFrames++;
      } else {
        if (orderer.restarted) {
          this.#epoch++;
          this.#haveTs = false;
        }
        const ts = orderer.ts;
        if (!this.#haveTs) {
          this.#haveTs = true;
          this.#extTs = 0;
        } else {
          this.#extTs += tsDiff(ts, this.#lastTs);
        }
        this.#lastTs = ts;
        position = Math.round((this.#extTs * rate) / media.codec.clockRate);
        if (this.#payloadView.length !== r) this.#payloadView = this.#payload.subarray(0, r);
        try {
          n = decoder.decode(this.#payloadView, pcm);
        } catch {
          continue;
        }
        if (n <= 0) continue;
        this.#haveLast = true;
        this.#lastSamples = n;
        this.#lostRun = 0;
      }
      this.#streamEnd = position + n;
      if (this.#frameView.length !== n) this.#frameView = pcm.subarray(0, n); // a view per size, not per packet
      const frame = this.#frameView;
      const at = r === ORDER_LOST ? nowMs : orderer.arrivalMs;
      for (const tap of this.taps) tap.onAudio(frame, rate, 'in', at, position, this.#epoch);
    }
    if (orderer.held === 0) this.#stopInbound();
  }

  #stopInbound(): void {
    if (!this.#inboundClocked) return;
    this.#inboundClocked = false;
    this.#clock.delete(this.#inbound);
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
    // A generated source owns the outbound stream: the addon must not relay into it meanwhile.
    if ((previous === null) !== (source === null)) this.endpoint.offloadChanged();
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
    for (const tap of this.taps) tap.onAudio(pcm, encoder.sampleRate, 'out', nowMs, -1, 0);
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
  sendEvent(
    payloadType: number,
    payloadLength: number,
    payload: Uint8Array,
    samples: number,
    marker: boolean,
    nowMs: number,
  ): void {
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
