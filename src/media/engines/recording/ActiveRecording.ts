import { Recorder, type RecorderResult } from '../../recording/Recorder.ts';
import type { RecordingCause, RecordingOutcome, RecordingSubject } from '../../../protocol/recording.ts';
import type { RtpEndpoint } from '../../transport/RtpEndpoint.ts';
import { BridgeLink } from '../BridgeLink.ts';
import type { AudioTap, EndpointAudio, FrameSource } from '../EndpointAudio.ts';
import type { Clocked } from '../MediaClock.ts';
import { TimelineChannel } from './TimelineChannel.ts';

/**
 * Where a channel's audio comes from: the taps of an endpoint (received 'in', sent 'out') or of
 * a conference room (its full mix, as 'out').
 */
export interface TapSpec {
  taps: Set<AudioTap>;
  /** The endpoint's PCM side (flushed at stop), null for a conference. */
  audio: EndpointAudio | null;
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
  readonly #in: TimelineChannel | null;
  readonly #out: TimelineChannel | null;

  constructor(inCh: TimelineChannel | null, outCh: TimelineChannel | null) {
    this.#in = inCh;
    this.#out = outCh;
  }

  onAudio(
    pcm: Int16Array,
    sampleRate: number,
    direction: 'in' | 'out',
    nowMs: number,
    position: number,
    epoch: number,
  ): void {
    if (direction === 'in') this.#in?.writeStream(pcm, sampleRate, nowMs, position, epoch);
    else this.#out?.writeClock(pcm, sampleRate, nowMs);
  }
}

/** Frames written per tick at most (a clock catching up, a stream resuming after a wait). */
const MAX_FRAMES_PER_TICK = 25;
/** Frames written at most when a recording finishes (what arrived up to the stop). */
const MAX_DRAIN_FRAMES = 100;

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
 * One recording inside a media worker: taps on one or two endpoints feed two timeline channels
 * (a = left: received audio / leg A; b = right: sent audio / leg B), and on the media clock every
 * frame that all channels have final is handed to the Recorder, which mixes or maps channels,
 * applies the options and writes. Received audio is placed by RTP timestamp and generated audio
 * by the tick that produced it (TimelineChannel), so a loss-free stream is recorded sample for
 * sample and two legs stay aligned by arrival; the file trails real time by the wait for audio
 * that is still on its way (at most STREAM_WAIT_MS), never by a dropped or inserted frame.
 */
export class ActiveRecording implements Clocked {
  readonly id: string;
  readonly endpointIds: readonly string[];
  readonly bridgeId: string | null;
  readonly recorder: Recorder;
  #a: TimelineChannel;
  #b: TimelineChannel;
  readonly #frameA: Int16Array;
  readonly #frameB: Int16Array;
  readonly #taps: Array<{ set: Set<AudioTap>; tap: RecordingTap }> = [];
  readonly #audios: EndpointAudio[] = [];
  #frames = 0;
  /** Recording time zero (media clock / packet arrival clock). */
  #origin = 0;
  /** A conference recorded: the recording ends ('hangup') when it does. */
  source: EndingSource | null = null;
  // Endpoint recordings: what a local bridge relays to the endpoint is what it is sent (the relay
  // path sends packets without decoding, so the 'out' tap does not see them): the bridge peer's
  // received audio is tapped into #relayed while no generated source is attached.
  #self: EndpointAudio | null = null;
  #audioOf: ((ep: RtpEndpoint) => EndpointAudio | null) | null = null;
  #relayPeer: RtpEndpoint | null = null;
  #relayAudio: EndpointAudio | null = null;
  #relayTap: RecordingTap | null = null;
  #relayed: TimelineChannel | null = null;
  #frameR: Int16Array | null = null;
  readonly #beeps: Array<{ audio: EndpointAudio; source: ToneSource }> = [];
  /** Cause reported when the recorder's own cause is overridden (shutdown). */
  reportedCause: RecordingCause | null = null;
  conferenceId: string | null = null;
  /** First digit seen while recording that is one of the terminators. */
  digit: string | null = null;

  /** DTMF keys that end the recording (upper case). */
  readonly terminateOn: string;
  /** Releases of the digit demand `terminateOn` holds on the recorded endpoints (in-band DTMF). */
  readonly digitDemands: Array<() => void> = [];

  constructor(
    id: string,
    endpointIds: readonly string[],
    bridgeId: string | null,
    recorder: Recorder,
    terminateOn = '',
  ) {
    this.id = id;
    this.terminateOn = terminateOn;
    this.endpointIds = endpointIds;
    this.bridgeId = bridgeId;
    this.recorder = recorder;
    const rate = recorder.sampleRate;
    this.#a = new TimelineChannel(rate, 'clock');
    this.#b = new TimelineChannel(rate, 'clock');
    const frame = Math.round(rate / 50);
    this.#frameA = new Int16Array(frame);
    this.#frameB = new Int16Array(frame);
  }

  /** Starts listening to the endpoints' audio. */
  attach(specs: readonly TapSpec[], originMs: number = performance.now()): void {
    // a channel fed by a received stream waits for it; one fed by the clock (or by nothing) does not
    const rate = this.recorder.sampleRate;
    const fedByStream = (c: number) => specs.some((s) => s.inChannel === c);
    this.#a = new TimelineChannel(rate, fedByStream(0) ? 'stream' : 'clock');
    this.#b = new TimelineChannel(rate, fedByStream(1) ? 'stream' : 'clock');
    this.#origin = originMs;
    this.#a.start(originMs);
    this.#b.start(originMs);
    const chans = [this.#a, this.#b];
    for (const s of specs) {
      if (s.audio !== null) this.#audios.push(s.audio);
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
    this.#relayed = new TimelineChannel(this.recorder.sampleRate, 'stream');
    this.#relayed.start(this.#origin);
    this.#relayTap = new RecordingTap(this.#relayed, null);
    this.#frameR = new Int16Array(this.#frameB.length);
  }

  /** Taps the current bridge peer; runs per tick, allocates only when the bridge changes. */
  #checkRelay(self: EndpointAudio): void {
    const sink = self.endpoint.sink;
    const peer = sink instanceof BridgeLink ? sink.peer : null;
    if (peer === this.#relayPeer) return;
    if (this.#relayAudio !== null) this.#relayAudio.taps.delete(this.#relayTap!);
    this.#relayAudio = null;
    this.#relayPeer = peer;
    this.#relayed!.newStream();
    if (peer === null) return;
    const audio = this.#audioOf!(peer);
    if (audio === null) return;
    audio.taps.add(this.#relayTap!);
    this.#relayAudio = audio;
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

  onTick(nowMs: number): void {
    if (this.source !== null && this.source.ended) {
      if (this.recorder.done === null) void this.recorder.stop('hangup');
      return;
    }
    const self = this.#self;
    if (self !== null) this.#checkRelay(self);
    this.#write(nowMs, MAX_FRAMES_PER_TICK, false);
  }

  /** Hands the Recorder every frame that all channels have final (all there is, when `all`). */
  #write(nowMs: number, max: number, all: boolean): void {
    const a = this.#a;
    const b = this.#b;
    const r = this.#relayed;
    const fs = a.frameSamples;
    for (let i = 0; i < max && this.recorder.state !== 'stopping' && this.recorder.state !== 'stopped'; i++) {
      const end = (this.#frames + 1) * fs;
      if (all) {
        // finishing: up to the furthest audio written, nothing beyond
        if (end - fs >= Math.max(a.written, b.written, r !== null ? r.written : -1)) return;
      } else if (
        !a.ready(end, nowMs) ||
        !b.ready(end, nowMs) ||
        (r !== null && this.#relayPeer !== null && !r.ready(end, nowMs))
      ) {
        return;
      }
      a.read(this.#frameA);
      b.read(this.#frameB);
      this.#frames++;
      if (r !== null) {
        r.read(this.#frameR!);
        // one outbound source at a time: generated audio, or else the relayed peer
        if (this.#self !== null && this.#self.source === null && this.#relayPeer !== null) {
          this.recorder.tick(this.#frameA, this.#frameR);
          continue;
        }
      }
      this.recorder.tick(this.#frameA, this.#frameB);
    }
  }

  /** What arrived before the pause was said before it: written out (recorded) first. */
  pause(): void {
    if (this.recorder.state === 'recording') this.drain();
    this.recorder.pause();
  }

  /**
   * Writes what arrived up to a stop or a hangup (audio still waiting behind a lost packet, and
   * the frames not yet final): it belongs in the file. Called just before the recorder is stopped.
   */
  drain(): void {
    for (const audio of this.#audios) audio.flushReceived();
    this.#relayAudio?.flushReceived();
    const now = performance.now();
    this.#write(now, MAX_FRAMES_PER_TICK, false);
    this.#write(now, MAX_DRAIN_FRAMES, true);
  }

  /**
   * The timeline runs on while paused (the Recorder skips its frames). What arrived during the
   * pause but is not written out yet was said during the pause: written out (skipped) first.
   */
  resume(): void {
    if (this.recorder.state === 'paused') this.drain();
    this.recorder.resume();
  }

  /** Removes the taps, the digit demands and any beep still playing. Idempotent. */
  detach(): void {
    for (const release of this.digitDemands) release();
    this.digitDemands.length = 0;
    for (const { set, tap } of this.#taps) set.delete(tap);
    this.#taps.length = 0;
    if (this.#relayAudio !== null) this.#relayAudio.taps.delete(this.#relayTap!);
    this.#relayAudio = null;
    this.#relayPeer = null;
    this.#audios.length = 0;
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

  /** Silent frames for missing received audio, and samples that could not be placed, all channels. */
  get underruns(): number {
    return this.#a.silentFrames + this.#b.silentFrames + (this.#relayed?.silentFrames ?? 0);
  }

  get droppedSamples(): number {
    return this.#a.droppedSamples + this.#b.droppedSamples + (this.#relayed?.droppedSamples ?? 0);
  }

  /** Times a received stream's place had to move (new sender, a stall beyond the wait). */
  get rebased(): number {
    return this.#a.rebased + this.#b.rebased + (this.#relayed?.rebased ?? 0);
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
