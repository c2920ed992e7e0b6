import type { MediaCodecConfig, ParticipantState } from '../../../protocol/index.ts';
import type { Codec } from '../../codecs/Codec.ts';
import { createCodec } from '../../codecs/index.ts';
import { JitterBuffer, JB_EMPTY, JB_LOST } from '../../dsp/JitterBuffer.ts';
import type { MixerChannel } from '../../dsp/Mixer.ts';
import { Resampler } from '../../dsp/Resampler.ts';
import type { RtpEndpoint } from '../../transport/RtpEndpoint.ts';
import type { EndpointAudio, FrameSource } from '../EndpointAudio.ts';
import { codecOptions } from '../Transcoder.ts';

/** active: in the mix; waiting: for a moderator (hears music); held: muted, deaf, hears music. */
export type { ParticipantState };

export interface ParticipantFlags {
  muted: boolean;
  deaf: boolean;
  moderator: boolean;
  hold: boolean;
  gainDb: number;
  outputGainDb: number;
}

/** What a participant needs from its room on each tick (implemented by ConferenceRoom). */
export interface ParticipantRoom {
  readonly sampleRate: number;
  readonly frameSamples: number;
  /** Mixes this tick if not done yet (whichever of the room and its members the clock runs first). */
  mixIfDue(nowMs: number): void;
  /** The hold/wait music frame of this tick (silence until the music is loaded). */
  readonly musicFrame: Int16Array;
  /** The participant's source was detached because its endpoint closed. */
  onParticipantClosed(p: Participant): void;
}

/** Concealment of a lost frame without codec PLC: the last frame, faded by 6 dB each time. */
const FADE = 0.5;

/**
 * One endpoint in a conference. Inbound: RTP payloads go through its own JitterBuffer (fed from
 * RtpEndpoint.onAudioPacket, so reordering and jitter are absorbed before decoding), are decoded
 * once per tick (lost frames concealed by the codec's PLC, or the last frame faded) and resampled
 * to the conference rate into its mixer channel. Outbound: it is the endpoint's FrameSource and
 * gives its mix-minus (or the hold music) resampled to its codec's rate.
 *
 * Frames are 20 ms: each tick takes one frame from the jitter buffer and gives one.
 */
export class Participant implements FrameSource {
  readonly endpointId: string;
  readonly endpoint: RtpEndpoint;
  readonly audio: EndpointAudio;
  readonly channel: MixerChannel;
  readonly joinedAt = new Date().toISOString();
  readonly flags: ParticipantFlags;
  state: ParticipantState = 'active';
  readonly #room: ParticipantRoom;
  #codecConfig: MediaCodecConfig | null = null;
  #decoder: Codec | null = null;
  #jb: JitterBuffer | null = null;
  #inResampler: Resampler | null = null;
  #outResampler: Resampler | null = null;
  #codecFrame = 160;
  #pcm = new Int16Array(160);
  /** The first 20 ms of #pcm, the resampler's input (a view made once, not per tick). */
  #pcmFrame = this.#pcm.subarray(0, 160);
  #pcmOut = new Int16Array(160);
  readonly #payload = new Uint8Array(1500);
  #payloadView: Uint8Array = new Uint8Array(0);
  #haveLast = false;
  #ssrc = -1;
  #leaving = false;
  /** Frames concealed and decode errors, for GET and metrics. */
  decodeErrors = 0;

  constructor(
    room: ParticipantRoom,
    endpoint: RtpEndpoint,
    audio: EndpointAudio,
    channel: MixerChannel,
    flags: ParticipantFlags,
  ) {
    this.#room = room;
    this.endpointId = endpoint.id;
    this.endpoint = endpoint;
    this.audio = audio;
    this.channel = channel;
    this.flags = flags;
    this.#ensureCodec();
  }

  get codecName(): string {
    return this.#codecConfig ? this.#codecConfig.name : 'none';
  }

  get jitterBuffer(): JitterBuffer | null {
    return this.#jb;
  }

  get leaving(): boolean {
    return this.#leaving;
  }

  /** Starts taking the endpoint's received audio and giving it the mix. */
  attach(): void {
    this.endpoint.onAudioPacket = this.#onPacket;
    this.audio.setSource(this, null);
  }

  /** Stops both directions; the endpoint goes back to the relay (or silence). */
  detachFromEndpoint(): void {
    if (this.#leaving) return;
    this.#leaving = true;
    if (this.endpoint.onAudioPacket === this.#onPacket) this.endpoint.onAudioPacket = null;
    if (this.audio.source === this) this.audio.setSource(null);
    this.#decoder?.close?.();
    this.#decoder = null;
  }

  /** Re-attaches the mix after something else (a prompt played to this endpoint) finished. */
  reattachIfFree(): void {
    if (!this.#leaving && this.audio.source === null && !this.endpoint.closed) this.audio.setSource(this, null);
  }

  readonly #onPacket = (ssrc: number, seq: number, ts: number, payload: Uint8Array, nowMs: number): void => {
    const jb = this.#jb;
    if (jb === null) return;
    if (ssrc !== this.#ssrc) {
      // A new sender (re-INVITE, SSRC change, RFC 3550 8.2): its sequence space starts afresh.
      if (this.#ssrc !== -1) jb.reset();
      this.#ssrc = ssrc;
    }
    // Events and CN share the audio's sequence numbers (RFC 4733 2.1, RFC 3389 4): numbered
    // without them, their places are not gaps to count as loss and conceal.
    jb.put((seq - this.endpoint.eventPackets) & 0xffff, ts, payload, nowMs);
  };

  /** (Re)builds decoder, jitter buffer and resamplers when the negotiated codec changes. */
  #ensureCodec(): boolean {
    const media = this.endpoint.media;
    if (media === null) return false;
    if (media.codec === this.#codecConfig && this.#decoder !== null) return true;
    const c = media.codec;
    const same =
      this.#codecConfig !== null && this.#codecConfig.name === c.name && this.#codecConfig.clockRate === c.clockRate;
    this.#codecConfig = c;
    if (same && this.#decoder !== null) return true;
    this.#decoder?.close?.();
    this.#decoder = createCodec(c.name, codecOptions(c));
    const rate = this.#decoder.sampleRate;
    const confRate = this.#room.sampleRate;
    this.#codecFrame = Math.round(rate / 50);
    this.#pcm = new Int16Array(Math.max(this.#codecFrame, Math.round(rate * 0.12)));
    this.#pcmFrame = this.#pcm.subarray(0, this.#codecFrame);
    // Output at the codec rate: one 20 ms frame (resampler output is exact for 20 ms frames).
    this.#pcmOut = new Int16Array(this.#codecFrame + 8);
    this.#jb = new JitterBuffer({ clockRate: c.clockRate, maxPayload: 1500 });
    this.#inResampler = rate === confRate ? null : new Resampler(rate, confRate);
    this.#outResampler = rate === confRate ? null : new Resampler(confRate, rate);
    this.#haveLast = false;
    this.#ssrc = -1;
    return true;
  }

  /** Takes this tick's frame from the jitter buffer into the mixer channel. */
  pull(nowMs: number): void {
    const ch = this.channel;
    ch.hasInput = false;
    if (this.#leaving || !this.#ensureCodec()) return;
    const jb = this.#jb!;
    const decoder = this.#decoder!;
    const frame = this.#codecFrame;
    const pcm = this.#pcm;
    const r = jb.get(this.#payload, nowMs);
    if (r === JB_EMPTY) {
      this.#haveLast = false;
      return;
    }
    let n = 0;
    if (r === JB_LOST) {
      if (decoder.conceal !== undefined) n = decoder.conceal(pcm, frame);
      else if (this.#haveLast) {
        for (let i = 0; i < frame; i++) pcm[i] = (pcm[i]! * FADE) | 0;
        n = frame;
      }
      if (n <= 0) return;
    } else {
      if (this.#payloadView.length !== r) this.#payloadView = this.#payload.subarray(0, r);
      try {
        n = decoder.decode(this.#payloadView, pcm);
      } catch {
        this.decodeErrors++;
        return;
      }
      if (n <= 0) return;
      this.#haveLast = true;
    }
    // A frame longer or shorter than 20 ms (odd ptime) is cut or padded to the tick.
    if (n < frame) pcm.fill(0, n, frame);
    const input = ch.input;
    const resampler = this.#inResampler;
    if (resampler === null) {
      for (let i = 0; i < input.length; i++) input[i] = pcm[i]!;
    } else {
      resampler.process(this.#pcmFrame, input);
    }
    ch.hasInput = true;
  }

  /** FrameSource: this participant's mix-minus (or music) at the endpoint's codec rate. */
  fill(out: Int16Array, nowMs: number): number {
    if (this.#leaving) return 0;
    this.#room.mixIfDue(nowMs);
    const src = this.state === 'active' ? this.channel.output : this.#room.musicFrame;
    const resampler = this.#outResampler;
    if (resampler === null) {
      const n = Math.min(out.length, src.length);
      for (let i = 0; i < n; i++) out[i] = src[i]!;
      if (n < out.length) out.fill(0, n);
    } else {
      const tmp = this.#pcmOut;
      const n = resampler.process(src, tmp);
      const m = Math.min(n, out.length);
      for (let i = 0; i < m; i++) out[i] = tmp[i]!;
      if (m < out.length) out.fill(0, m);
    }
    return out.length;
  }

  detach(reason: 'replaced' | 'closed'): void {
    // Replaced: a prompt is played to this endpoint; the room re-attaches the mix when it ends.
    if (reason === 'closed' && !this.#leaving) this.#room.onParticipantClosed(this);
  }
}
