import type { EndpointMediaConfig } from '../../protocol/index.ts';
import { createCodec } from '../codecs/index.ts';
import type { RtpEndpoint } from '../transport/RtpEndpoint.ts';
import { FRAME_MS, type Clocked, type MediaClock } from './MediaClock.ts';
import { codecOptions } from './Transcoder.ts';

/**
 * SILENCE_FILL: what an idle endpoint sends. 'cn': RFC 3389 comfort noise where CN was
 * negotiated, encoded silence otherwise; 'silence': encoded silence always; 'off': nothing.
 */
export type SilenceFillMode = 'cn' | 'silence' | 'off';

/**
 * Comfort noise update interval. RFC 3389 4 asks for a CN packet when silence starts and leaves
 * updates to the sender; ours carry no spectrum and never change, so they are keep-alives: at
 * 5 per second an RTP inactivity timer or a NAT binding never starves, at a tenth of the packets
 * of encoded silence.
 */
export const CN_INTERVAL_MS = 200;
/** RFC 3389 3.1 noise level in -dBov: what we would otherwise send is digital silence. */
const CN_LEVEL = 127;
/** Header buffers per endpoint: dgram.send() reads them a tick later, a catch-up sends several. */
const RING = 16;

let serial = 0;

/** Encoded silence per codec and packet time, shared by the endpoints of this worker. */
const silenceFrames = new Map<string, Uint8Array | null>();

/**
 * One encoded frame of digital silence: constant bytes for G.711 and L16, the settled output of an
 * encoder for G.722 and Opus (a decoder takes a repeated frame as more silence). null when the
 * codec cannot encode a frame of this length.
 */
function silenceFrame(media: EndpointMediaConfig): Uint8Array | null {
  const c = media.codec;
  const key = `${c.name}/${c.clockRate}/${c.ptime}`;
  let frame = silenceFrames.get(key);
  if (frame !== undefined) return frame;
  frame = null;
  try {
    const codec = createCodec(c.name, codecOptions(c));
    try {
      const pcm = new Int16Array(Math.round((codec.sampleRate * c.ptime) / 1000));
      const out = new Uint8Array(pcm.length * 2 + 64);
      let n = 0;
      // A few frames: adaptive coders settle on silence after their first.
      for (let i = 0; i < 5; i++) n = codec.encode(pcm, out);
      if (n > 0) frame = out.slice(0, n);
    } finally {
      codec.close?.();
    }
  } catch {
    frame = null;
  }
  silenceFrames.set(key, frame);
  return frame;
}

/**
 * Keeps an idle endpoint's outbound stream alive: while it may send (a remote address, a direction
 * that sends), is not bridged and has no generated source (prompt, mixer, tones), SBCs and PBXs
 * with an RTP inactivity timer would otherwise drop the call (a flow waiting for digits, a long
 * voicemail). Comfort noise (RFC 3389) when negotiated and SILENCE_FILL=cn, else one encoded
 * silence frame per ptime. The packets continue our stream (RtpSender): when real audio resumes
 * its timestamp advances by the elapsed time, with the marker.
 *
 * On the media clock only while it may be needed (`refresh()` after configure, bridge changes,
 * latching): a bridged endpoint costs nothing. Per tick it allocates nothing.
 */
export class SilenceFill implements Clocked {
  readonly endpoint: RtpEndpoint;
  readonly #clock: MediaClock;
  readonly #mode: SilenceFillMode;
  #clocked = false;
  #active = false;
  #token = 0;
  #dueMs = 0;
  #media: EndpointMediaConfig | null = null;
  /** Payload type sent, its payload (CN level byte or encoded silence), timestamp units per packet. */
  #pt = -1;
  #cn = false;
  #payload: Uint8Array | null = null;
  #intervalMs = 20;
  #samples = 0;
  #ring: Uint8Array[] = [];
  #ringIndex = 0;
  packetsSent = 0;

  constructor(endpoint: RtpEndpoint, clock: MediaClock, mode: SilenceFillMode) {
    this.endpoint = endpoint;
    this.#clock = clock;
    this.#mode = mode;
  }

  /** Whether the fill may be needed now; joins or leaves the media clock accordingly. */
  refresh(): void {
    const ep = this.endpoint;
    const want = this.#mode !== 'off' && !ep.closed && ep.media !== null && ep.sink === null && ep.canSend;
    if (want === this.#clocked) return;
    this.#clocked = want;
    this.#active = false;
    if (want) {
      this.#clock.add(this);
      this.endpoint.idleFill = this;
    } else {
      this.#clock.delete(this);
      if (this.endpoint.idleFill === this) this.endpoint.idleFill = null;
    }
  }

  stop(): void {
    this.#clocked = false;
    this.#active = false;
    this.#clock.delete(this);
    if (this.endpoint.idleFill === this) this.endpoint.idleFill = null;
  }

  /** Applies newly negotiated media (called on the first idle tick after a renegotiation). */
  #prepare(media: EndpointMediaConfig): void {
    this.#media = media;
    const cn = this.#mode === 'cn' ? (media.comfortNoise ?? null) : null;
    let payload: Uint8Array | null;
    if (cn !== null) {
      this.#cn = true;
      this.#pt = cn.payloadType;
      payload = Uint8Array.of(CN_LEVEL);
      this.#intervalMs = CN_INTERVAL_MS;
    } else {
      this.#cn = false;
      this.#pt = media.codec.payloadType;
      payload = silenceFrame(media);
      this.#intervalMs = media.codec.ptime > 0 ? media.codec.ptime : FRAME_MS;
    }
    this.#samples = Math.round((media.codec.clockRate * this.#intervalMs) / 1000);
    if (payload !== null && (this.#payload === null || this.#ring[0]!.length < 12 + payload.length)) {
      this.#ring = Array.from({ length: RING }, () => new Uint8Array(12 + payload.length));
    }
    if (payload !== null) for (const b of this.#ring) b.set(payload, 12);
    this.#payload = payload;
  }

  onTick(nowMs: number): void {
    const ep = this.endpoint;
    const media = ep.media;
    const audio = ep.audio;
    // Something else feeds the stream: a generated source, or RFC 4733 events (sent alone, as
    // Asterisk does; the fill resumes after them as a new talkspurt).
    if (
      media === null ||
      !ep.canSend ||
      ep.sink !== null ||
      ep.sendingEvents ||
      (audio !== null && audio.source !== null)
    ) {
      this.#active = false;
      return;
    }
    // Another source sent in this tick (its last frame), or this tick was handled already.
    if (ep.sender.lastWallMs === nowMs) return;
    if (media !== this.#media) this.#prepare(media);
    const payload = this.#payload;
    if (payload === null) return;
    if (!this.#active) {
      // Silence starts: a new source for the sender, so the timestamp follows the elapsed time.
      this.#active = true;
      this.#token = (0x51e00000 + (++serial & 0xffff)) >>> 0;
      this.#dueMs = this.#intervalMs;
    } else {
      this.#dueMs += FRAME_MS;
    }
    while (this.#dueMs >= this.#intervalMs) {
      this.#dueMs -= this.#intervalMs;
      this.#ringIndex = (this.#ringIndex + 1) & (RING - 1);
      const packet = this.#ring[this.#ringIndex]!;
      ep.sender.writeHeader(packet, this.#pt, this.#token, this.#samples, nowMs);
      if (ep.send(packet, 12 + payload.length)) this.packetsSent++;
      if (this.#cn) this.#dueMs = 0; // updates are keep-alives: no catching up
    }
  }
}
