import { Recorder, type RecorderResult } from '../../recording/Recorder.ts';
import type { RecordingCause, RecordingOutcome, RecordingSubject } from '../../../protocol/recording.ts';
import type { RtpEndpoint } from '../../transport/RtpEndpoint.ts';
import { BridgeLink } from '../BridgeLink.ts';
import type { AudioTap, EndpointAudio, FrameSource } from '../EndpointAudio.ts';
import type { Clocked } from '../MediaClock.ts';
import { ChannelInput } from './ChannelInput.ts';


/**
 * Where a channel's audio comes from: the taps of an endpoint (received 'in', sent 'out') or of
 * a conference room (its full mix, as 'out').
 */
export interface TapSpec {
  taps: Set<AudioTap>;
  /** Channel fed by the received audio (0 = left/a, 1 = right/b), or -1. */
  inChannel: number;
  /** Channel fed by the sent audio (or a conference's mix), or -1. */
  outChannel: number;
}

/** A conference room as a recording sees it: it can end under the recording. */
export interface EndingSource {
  readonly ended: boolean;
}

/** Routes one endpoint's decoded audio into the recording's channels. */
class RecordingTap implements AudioTap {
  readonly #in: ChannelInput | null;
  readonly #out: ChannelInput | null;

  constructor(inCh: ChannelInput | null, outCh: ChannelInput | null) {
    this.#in = inCh;
    this.#out = outCh;
  }

  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out'): void {
    const ch = direction === 'in' ? this.#in : this.#out;
    if (ch !== null) ch.push(pcm, sampleRate);
  }
}

/** Plays a short tone (the beep) to an endpoint, then ends. */
export class ToneSource implements FrameSource {
  readonly #tone: Int16Array;
  #pos = 0;

  constructor(tone: Int16Array) {
    this.#tone = tone;
  }

  get ended(): boolean {
    return this.#pos >= this.#tone.length;
  }

  fill(out: Int16Array): number {
    const tone = this.#tone;
    if (this.#pos >= tone.length) return 0;
    const n = out.length;
    for (let i = 0; i < n; i++) out[i] = this.#pos < tone.length ? tone[this.#pos++]! : 0;
    return n;
  }
}

/**
 * One recording inside a media worker: taps on one or two endpoints feed two ChannelInputs, and
 * every media clock tick takes exactly one frame of each (silence where the network gave
 * nothing) into the Recorder, which mixes or maps channels, applies the options and writes.
 * Channel a is the left channel (received audio / leg A), b the right (sent audio / leg B).
 */
export class ActiveRecording implements Clocked {
  readonly id: string;
  readonly endpointIds: readonly string[];
  readonly bridgeId: string | null;
  readonly recorder: Recorder;
  readonly #a: ChannelInput;
  readonly #b: ChannelInput;
  readonly #frameA: Int16Array;
  readonly #frameB: Int16Array;
  readonly #taps: Array<{ set: Set<AudioTap>; tap: RecordingTap }> = [];
  /** A conference recorded: the recording ends ('hangup') when it does. */
  source: EndingSource | null = null;
  // Endpoint recordings: what a local bridge relays to the endpoint is what it is sent (the relay
  // path sends packets without decoding, so the 'out' tap does not see them): the bridge peer's
  // received audio is tapped into #relayed while no generated source is attached.
  #self: EndpointAudio | null = null;
  #audioOf: ((ep: RtpEndpoint) => EndpointAudio | null) | null = null;
  #relayPeer: RtpEndpoint | null = null;
  #relayTaps: Set<AudioTap> | null = null;
  #relayTap: RecordingTap | null = null;
  #relayed: ChannelInput | null = null;
  #frameR: Int16Array | null = null;
  readonly #beeps: Array<{ audio: EndpointAudio; source: ToneSource }> = [];
  /** Cause reported when the recorder's own cause is overridden (shutdown). */
  reportedCause: RecordingCause | null = null;
  conferenceId: string | null = null;
  /** First digit seen while recording that is one of the terminators. */
  digit: string | null = null;

  /** DTMF keys that end the recording (upper case). */
  readonly terminateOn: string;

  constructor(id: string, endpointIds: readonly string[], bridgeId: string | null, recorder: Recorder, terminateOn = '') {
    this.id = id;
    this.terminateOn = terminateOn;
    this.endpointIds = endpointIds;
    this.bridgeId = bridgeId;
    this.recorder = recorder;
    const rate = recorder.sampleRate;
    this.#a = new ChannelInput(rate);
    this.#b = new ChannelInput(rate);
    const frame = Math.round(rate / 50);
    this.#frameA = new Int16Array(frame);
    this.#frameB = new Int16Array(frame);
  }

  /** Starts listening to the endpoints' audio. */
  attach(specs: readonly TapSpec[]): void {
    const chans = [this.#a, this.#b];
    for (const s of specs) {
      const tap = new RecordingTap(chans[s.inChannel] ?? null, chans[s.outChannel] ?? null);
      s.taps.add(tap);
      this.#taps.push({ set: s.taps, tap });
    }
  }

  /**
   * For an endpoint recording: the sent channel also follows a local bridge (see #self). `audioOf`
   * gives the bridge peer's PCM side.
   */
  followRelay(self: EndpointAudio, audioOf: (ep: RtpEndpoint) => EndpointAudio | null): void {
    this.#self = self;
    this.#audioOf = audioOf;
    this.#relayed = new ChannelInput(this.recorder.sampleRate);
    this.#relayTap = new RecordingTap(this.#relayed, null);
    this.#frameR = new Int16Array(this.#frameB.length);
  }

  /** Taps the current bridge peer; runs per tick, allocates only when the bridge changes. */
  #checkRelay(self: EndpointAudio): void {
    const sink = self.endpoint.sink;
    const peer = sink instanceof BridgeLink ? sink.peer : null;
    if (peer === this.#relayPeer) return;
    if (this.#relayTaps !== null) this.#relayTaps.delete(this.#relayTap!);
    this.#relayTaps = null;
    this.#relayPeer = peer;
    if (peer === null) return;
    const audio = this.#audioOf!(peer);
    if (audio === null) return;
    audio.taps.add(this.#relayTap!);
    this.#relayTaps = audio.taps;
  }

  /**
   * Plays the recorder's beep to `audio`'s peer, unless something is already playing to it (a
   * prompt is never cut off for a beep; the file gets the beep either way).
   */
  beep(audio: EndpointAudio): void {
    if (audio.source !== null || !audio.endpoint.canSend) return;
    const source = new ToneSource(Recorder.beepTone(audio.sampleRate));
    audio.setSource(source);
    this.#beeps.push({ audio, source });
  }

  onTick(): void {
    if (this.source !== null && this.source.ended) {
      if (this.recorder.done === null) void this.recorder.stop('hangup');
      return;
    }
    this.#a.aligner.read(this.#frameA);
    this.#b.aligner.read(this.#frameB);
    const self = this.#self;
    if (self !== null) {
      this.#checkRelay(self);
      this.#relayed!.aligner.read(this.#frameR!);
      // one outbound source at a time: generated audio, or else the relayed peer
      if (self.source === null && this.#relayPeer !== null) {
        this.recorder.tick(this.#frameA, this.#frameR);
        return;
      }
    }
    this.recorder.tick(this.#frameA, this.#frameB);
  }

  pause(): void {
    this.recorder.pause();
  }

  /**
   * Writes the whole frames still queued (the jitter slack, a frame or two): audio received before
   * a stop or a hangup belongs in the file. Called just before the recorder is stopped.
   */
  drain(): void {
    const a = this.#a.aligner;
    const b = this.#b.aligner;
    const frame = a.frameSamples;
    for (let i = 0; i < 16 && this.recorder.state === 'recording' && (a.depth >= frame || b.depth >= frame); i++) {
      if (a.depth >= frame) a.read(this.#frameA);
      else this.#frameA.fill(0);
      if (b.depth >= frame) b.read(this.#frameB);
      else this.#frameB.fill(0);
      this.recorder.tick(this.#frameA, this.#frameB);
    }
  }

  /** What was queued while paused was said during the pause: it is not recorded late. */
  resume(): void {
    this.#a.aligner.clear();
    this.#b.aligner.clear();
    this.recorder.resume();
  }

  /** Removes the taps and any beep still playing. Idempotent. */
  detach(): void {
    for (const { set, tap } of this.#taps) set.delete(tap);
    this.#taps.length = 0;
    if (this.#relayTaps !== null) this.#relayTaps.delete(this.#relayTap!);
    this.#relayTaps = null;
    this.#relayPeer = null;
    this.#self = null;
    for (const { audio, source } of this.#beeps) if (audio.source === source) audio.setSource(null);
    this.#beeps.length = 0;
  }

  /** What it records, for notifications. */
  subject(): RecordingSubject {
    const out: RecordingSubject = {};
    const ep = this.endpointIds[0];
    if (ep !== undefined) out.endpointId = ep;
    if (this.bridgeId !== null) out.bridgeId = this.bridgeId;
    if (this.conferenceId !== null) out.conferenceId = this.conferenceId;
    return out;
  }

  /** Underruns (silent frames for missing audio) and trimmed samples, both channels. */
  get underruns(): number {
    return this.#a.aligner.underruns + this.#b.aligner.underruns;
  }

  get droppedSamples(): number {
    return this.#a.aligner.droppedSamples + this.#b.aligner.droppedSamples;
  }

  outcome(r: RecorderResult): RecordingOutcome {
    const o: RecordingOutcome = {
      recordingId: this.id,
      path: r.path,
      format: r.format,
      durationMs: Math.round(r.durationMs),
      bytes: r.bytes,
      droppedFrames: r.droppedFrames,
      cause: r.cause === 'error' ? 'error' : (this.reportedCause ?? r.cause),
    };
    if (o.cause === 'dtmf' && this.digit !== null) o.digit = this.digit;
    if (r.error !== undefined) o.error = r.error.message;
    return o;
  }
}
