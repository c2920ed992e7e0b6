import { InvalidStateError } from '../../../common/errors.ts';
import { tsAdd, tsDiff } from '../../../common/seq.ts';
import { DtmfDetector } from '../../dtmf/DtmfDetector.ts';
import type { DtmfEvent } from '../../dtmf/DtmfEvent.ts';
import { DtmfGenerator } from '../../dtmf/DtmfGenerator.ts';
import { DtmfMerger } from '../../dtmf/DtmfMerger.ts';
import { Rfc4733Receiver } from '../../dtmf/Rfc4733Receiver.ts';
import { MARKER, Rfc4733Sender, SEND } from '../../dtmf/Rfc4733Sender.ts';
import type { RtpEndpoint } from '../../transport/RtpEndpoint.ts';
import type { AudioTap, EndpointAudio, FrameSource } from '../EndpointAudio.ts';
import { FRAME_MS, type Clocked, type MediaClock } from '../MediaClock.ts';

/**
 * The detector reports a press when it has seen 4 windows (6.4 ms hop) without it, inside a
 * 20 ms packet: its start on the packet-arrival clock is about this much before "now - duration".
 */
const INBAND_END_LATENCY_MS = 35;

/** Event packet buffers (power of two): more than the sends of one clock catch-up (5 ticks). */
const EVENT_PACKET_RING = 8;

/** Silence after each in-band tone we generate (ITU-T Q.24 asks receivers to accept 40 ms). */
const TONE_PAUSE_MS = 80;

/** In-band analysis work, summed over an endpoint's detectors (see DtmfDetectorStats). */
export interface InbandWork {
  /** Analysis windows (6.4 ms hops) of received audio the detector saw. */
  windows: number;
  /** Windows loud enough to hold a digit: the eight-frequency DFT ran. */
  analysed: number;
  /** Windows that also passed the tone-share bound: the full measurement ran. */
  measured: number;
}

export interface DtmfCounters {
  rfc4733Digits: number;
  inbandDigits: number;
  suppressed: number;
  sentRfc4733: number;
  sentInband: number;
  eventPacketsSent: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** In-band tones as a temporary outbound source: ends (fill() returns 0) when the queue is played. */
class ToneSource implements FrameSource {
  readonly generator: DtmfGenerator;
  readonly #owner: EndpointDtmf;
  constructor(generator: DtmfGenerator, owner: EndpointDtmf) {
    this.generator = generator;
    this.#owner = owner;
  }
  fill(out: Int16Array): number {
    return this.generator.fill(out) > 0 ? out.length : 0;
  }
  get ended(): boolean {
    return !this.generator.busy;
  }
  detach(reason: 'replaced' | 'closed'): void {
    this.#owner.toneDetached(this, reason);
  }
}

/**
 * Default of in-band detection per endpoint (DTMF_INBAND):
 * - 'auto': only for peers that negotiated no telephone-event, and only while something consumes
 *   their digits (a flow or API listener, a barge-in playback, a recording with terminate_on, a
 *   bridge converting to RFC 4733): a plain bridged call that nobody listens to costs nothing;
 * - 'plain': always for peers without telephone-event (the default before demand counting);
 * - 'on': always, for every endpoint; 'off': never.
 * An explicit per-endpoint setting (`dtmf.configure {inband}`) overrides the mode.
 */
export type InbandMode = 'auto' | 'plain' | 'on' | 'off';

/**
 * DTMF on one endpoint: RFC 4733 receive (always: it costs nothing until an event packet comes),
 * in-band detection as an audio tap (it decodes received audio, so it is attached only when the
 * mode and the endpoint's digit consumers ask for it), a merger so a press carried both ways is
 * reported once, and sending as RFC 4733 events when the peer negotiated telephone-event, else as
 * in-band tones.
 *
 * Per packet and per frame nothing is allocated except the reported event.
 */
export class EndpointDtmf implements AudioTap, Clocked {
  readonly id: string;
  readonly endpoint: RtpEndpoint;
  readonly #audio: () => EndpointAudio;
  readonly #clock: MediaClock;
  readonly #counters: DtmfCounters;
  readonly #onPress: (state: EndpointDtmf, event: DtmfEvent) => void;
  readonly #merger: DtmfMerger;
  #receiver: Rfc4733Receiver;
  #detector: DtmfDetector | null = null;
  #detectorBroken = false;
  /** Work of detectors replaced after a rate change. */
  readonly #retired: InbandWork = { windows: 0, analysed: 0, measured: 0 };
  /** Explicit `dtmf.configure {inband}`; null follows `#defaultInband`. */
  #inbandSetting: boolean | null = null;
  readonly #defaultInband: InbandMode;
  /** Digit consumers inside the worker (barge-in playbacks, recordings with terminate_on). */
  #consumers = 0;
  /** Whether the control plane has listeners for this endpoint's digits (flows, API). */
  #listened = false;
  /** Whether a local bridge converts this leg's in-band digits to RFC 4733 on the other leg. */
  #converting = false;
  #tapped: EndpointAudio | null = null;
  #nowMs = 0;
  #rfcOpen = 0;
  #clocked = false;
  #closed = false;

  // RFC 4733 sending.
  #sender: Rfc4733Sender | null = null;
  #eventPt = -1;
  #eventTs = 0;
  #lastEventMs = -1;
  // dgram.send() reads the bytes on a later tick, so a clock catching up several ticks at once
  // must not reuse one buffer (two datagrams would carry the second packet): a small ring.
  readonly #packets: Uint8Array[] = Array.from({ length: EVENT_PACKET_RING }, () => new Uint8Array(16));
  #packetIndex = 0;
  #eventWaiters: Waiter[] = [];
  // In-band sending.
  #tone: ToneSource | null = null;
  #toneWaiters: Waiter[] = [];

  constructor(
    endpoint: RtpEndpoint,
    audio: () => EndpointAudio,
    clock: MediaClock,
    counters: DtmfCounters,
    onPress: (state: EndpointDtmf, event: DtmfEvent) => void,
    defaultInband: InbandMode = 'auto',
  ) {
    this.id = endpoint.id;
    this.#defaultInband = defaultInband;
    this.endpoint = endpoint;
    this.#audio = audio;
    this.#clock = clock;
    this.#counters = counters;
    this.#onPress = onPress;
    // In-band digits are detected on arrival, a reorder wait at most (60 ms) behind the RFC 4733
    // events of the same press: the window covers that and the tone's own length.
    this.#merger = new DtmfMerger({ onDigit: this.#onMerged, windowMs: 300 });
    this.#receiver = this.#makeReceiver(8000);
  }

  /**
   * Whether in-band detection runs. It decodes every received packet, which costs more than
   * relaying it, so by default ('auto') it runs only for peers that negotiated no
   * telephone-event (they can only send tones) and only while something consumes the digits;
   * `dtmf.configure {inband}` or DTMF_INBAND=plain/on/off decide otherwise.
   */
  get inband(): boolean {
    if (this.#inbandSetting !== null) return this.#inbandSetting;
    switch (this.#defaultInband) {
      case 'on':
        return true;
      case 'off':
        return false;
      case 'plain':
        return !this.telephoneEvent;
      default: // 'auto'
        return !this.telephoneEvent && this.demanded;
    }
  }

  /** Whether anything consumes this endpoint's digits now (see `want()`, `setListened()`). */
  get demanded(): boolean {
    return this.#consumers > 0 || this.#listened || this.#converting;
  }

  /** The explicit per-endpoint setting, null when the mode and the demand decide. */
  get inbandSetting(): boolean | null {
    return this.#inbandSetting;
  }

  /**
   * Registers a digit consumer inside the worker (a barge-in playback, a recording with
   * terminate_on); returns its release (idempotent). Detection starts at once when the mode wants
   * it: a tone that begins after this call is heard.
   */
  want(): () => void {
    this.#consumers++;
    this.#applyTap();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#consumers--;
      this.#applyTap();
    };
  }

  /** The control plane has (true) or no longer has (false) listeners for this endpoint's digits. */
  setListened(on: boolean): void {
    this.#listened = on;
    this.#applyTap();
  }

  /** A local bridge converts (true) or no longer converts (false) this leg's in-band digits. */
  setConverting(on: boolean): void {
    if (on === this.#converting) return;
    this.#converting = on;
    this.#applyTap();
  }

  /** Whether the in-band detector is attached to the endpoint's decoded audio now. */
  get detecting(): boolean {
    return this.#tapped !== null;
  }

  /** Whether the peer negotiated telephone-event (we send RFC 4733 then, else tones). */
  get telephoneEvent(): boolean {
    return this.endpoint.media?.telephoneEvent != null;
  }

  /** (Re)applies the endpoint's negotiated media: event clock rate, detector tap. */
  configure(): void {
    if (this.#closed) return;
    const media = this.endpoint.media;
    const te = media?.telephoneEvent ?? null;
    const rate = te ? te.clockRate : 8000;
    const tsRate = te && media ? media.codec.clockRate : rate;
    if (rate !== this.#receiver.clockRate || tsRate !== this.#receiver.timestampRate) {
      this.#receiver = this.#makeReceiver(rate, tsRate);
      this.#rfcOpen = 0;
      this.#updateClock();
    }
    this.endpoint.onEventPacket = this.#onEventPacket;
    this.#applyTap();
  }

  /** Explicit per-endpoint setting (true: always, false: never); null returns to the mode's default. */
  setInband(on: boolean | null): void {
    this.#inbandSetting = on;
    this.#applyTap();
  }

  #applyTap(): void {
    const inband = this.inband;
    if (this.#closed) return;
    if (inband && this.#tapped === null && this.endpoint.media !== null) {
      const audio = this.#audio();
      this.#detector?.reset();
      audio.taps.add(this);
      this.#tapped = audio;
    } else if (!inband && this.#tapped !== null) {
      this.#tapped.taps.delete(this);
      this.#tapped = null;
      this.#detector?.reset();
    }
  }

  #makeReceiver(clockRate: number, timestampRate = clockRate): Rfc4733Receiver {
    return new Rfc4733Receiver({ clockRate, timestampRate, onDigit: this.#onRfcDigit, onDigitStart: this.#onRfcStart });
  }

  readonly #onEventPacket = (
    ssrc: number,
    seq: number,
    ts: number,
    marker: boolean,
    payload: Uint8Array,
    nowMs: number,
  ): void => {
    this.#receiver.push(ssrc, seq, ts, marker, payload, nowMs);
  };

  readonly #onRfcStart = (): void => {
    // The receiver needs the clock only while a press is open (timeout of lost end packets).
    this.#rfcOpen++;
    this.#updateClock();
  };

  readonly #onRfcDigit = (event: DtmfEvent): void => {
    if (this.#rfcOpen > 0) this.#rfcOpen--;
    this.#updateClock();
    if (!this.#merger.push(event)) this.#counters.suppressed++;
  };

  readonly #onInbandDigit = (event: DtmfEvent): void => {
    // Put the press on the packet-arrival clock the RFC 4733 receiver uses, for the merger (the
    // audio is decoded on arrival, in sequence order: no playout delay to take off).
    event.startMs = this.#nowMs - event.durationMs - INBAND_END_LATENCY_MS;
    if (!this.#merger.push(event)) this.#counters.suppressed++;
  };

  readonly #onMerged = (event: DtmfEvent): void => {
    if (event.source === 'rfc4733') this.#counters.rfc4733Digits++;
    else this.#counters.inbandDigits++;
    this.#onPress(this, event);
  };

  /**
   * AudioTap: received audio, decoded on arrival in sequence order, goes through the in-band
   * detector: detection depends on neither the media clock's lateness nor a playout buffer.
   */
  onAudio(pcm: Int16Array, sampleRate: number, direction: 'in' | 'out', nowMs: number): void {
    if (direction !== 'in' || this.#tapped === null) return;
    let detector = this.#detector;
    if (detector === null || detector.sampleRate !== sampleRate) {
      if (this.#detectorBroken) return;
      try {
        if (detector !== null) addWork(this.#retired, detector.stats);
        detector = new DtmfDetector({ sampleRate, onDigit: this.#onInbandDigit });
      } catch {
        // A rate the detector does not take (it handles 8, 16 and 48 kHz): no in-band detection.
        this.#detectorBroken = true;
        return;
      }
      this.#detector = detector;
    }
    this.#nowMs = nowMs;
    detector.process(pcm);
  }

  /** Adds this endpoint's in-band analysis work so far to `into`. */
  addInbandWork(into: InbandWork): void {
    addWork(into, this.#retired);
    if (this.#detector !== null) addWork(into, this.#detector.stats);
  }

  /** Media clock: RFC 4733 receive timeout and RFC 4733 sending. */
  onTick(nowMs: number): void {
    // A press whose end packets were all lost ends here (#onRfcDigit counts it down).
    if (this.#rfcOpen > 0) this.#receiver.tick(nowMs);
    const sender = this.#sender;
    if (sender !== null) {
      this.#packetIndex = (this.#packetIndex + 1) & (EVENT_PACKET_RING - 1);
      const packet = this.#packets[this.#packetIndex]!;
      const flags = sender.next(packet, 12);
      if ((flags & SEND) !== 0) {
        const rtp = this.endpoint.sender;
        // RFC 4733 2.5.1.1: every packet of an event carries the time the event began.
        if ((flags & MARKER) !== 0) this.#eventTs = this.#eventStart(nowMs);
        // Durations count the telephone-event clock, timestamps the audio timeline (RFC 4733 2.1):
        // a later segment's offset is converted when the two clocks differ.
        const offset =
          rtp.clockRate === sender.clockRate
            ? sender.timestampOffset
            : Math.round((sender.timestampOffset * rtp.clockRate) / sender.clockRate);
        rtp.writeInsertedHeader(packet, this.#eventPt, tsAdd(this.#eventTs, offset), (flags & MARKER) !== 0);
        if (this.endpoint.send(packet, 16)) this.#counters.eventPacketsSent++;
      }
      if (!sender.busy) {
        this.#sender = null;
        this.endpoint.sendingEvents = false;
        settle(this.#eventWaiters, null);
        this.#eventWaiters = [];
      }
    }
    this.#updateClock();
  }

  /**
   * RTP timestamp of an event beginning now: where our audio would be. With no audio flowing the
   * audio timeline stands still, so the previous event's start plus the time elapsed since then
   * bounds it from below: each press gets a newer timestamp, which is what receivers key on.
   */
  #eventStart(nowMs: number): number {
    const rtp = this.endpoint.sender;
    let ts = rtp.timestampAt(nowMs);
    if (this.#lastEventMs >= 0) {
      const elapsed = Math.round(((nowMs - this.#lastEventMs) * rtp.clockRate) / 1000);
      const projected = tsAdd(this.#eventTs, elapsed);
      if (tsDiff(projected, ts) > 0) ts = projected;
    }
    this.#lastEventMs = nowMs;
    return ts;
  }

  #updateClock(): void {
    const want = !this.#closed && (this.#rfcOpen > 0 || this.#sender !== null);
    if (want === this.#clocked) return;
    this.#clocked = want;
    if (want) this.#clock.add(this);
    else this.#clock.delete(this);
  }

  /**
   * Sends `digits` as RFC 4733 events (RFC 4733 2.5.1: constant timestamp per event, growing
   * duration, end packet three times); resolves when the last end packet went out.
   */
  sendEvents(digits: string, durationMs: number): Promise<void> {
    const te = this.endpoint.media?.telephoneEvent ?? null;
    if (this.#closed || te === null)
      return Promise.reject(new InvalidStateError('DTMF_UNAVAILABLE', `endpoint ${this.id} has no telephone-event`));
    let sender = this.#sender;
    if (sender === null || sender.clockRate !== te.clockRate) {
      sender = new Rfc4733Sender({ clockRate: te.clockRate, ptimeMs: FRAME_MS });
      this.#sender = sender;
    }
    sender.send(digits, durationMs);
    this.endpoint.sendingEvents = true;
    this.#eventPt = te.payloadType;
    this.#counters.sentRfc4733 += digits.length;
    this.#updateClock();
    return new Promise((resolve, reject) => this.#eventWaiters.push({ resolve, reject }));
  }

  /**
   * Sends `digits` as in-band tones in our outbound audio: the tones become the outbound source
   * (the bridge relay is suppressed meanwhile) or, when a source (prompt) is playing, pre-empt it
   * and let it resume afterwards. Resolves when the last tone and its pause were sent.
   */
  sendTones(digits: string, durationMs: number): Promise<void> {
    if (this.#closed || this.endpoint.media === null)
      return Promise.reject(
        new InvalidStateError('ENDPOINT_NOT_CONFIGURED', `endpoint ${this.id} has no negotiated media`),
      );
    const audio = this.#audio();
    let tone = this.#tone;
    if (tone === null || tone.generator.sampleRate !== audio.sampleRate) {
      tone = new ToneSource(new DtmfGenerator({ sampleRate: audio.sampleRate, pauseMs: TONE_PAUSE_MS }), this);
      tone.generator.queue(digits, durationMs);
      this.#tone = tone;
      if (audio.source === null) audio.setSource(tone, this.#onToneEnded);
      else audio.setOverride(tone, this.#onToneEnded);
    } else {
      tone.generator.queue(digits, durationMs);
    }
    this.#counters.sentInband += digits.length;
    return new Promise((resolve, reject) => this.#toneWaiters.push({ resolve, reject }));
  }

  readonly #onToneEnded = (source: FrameSource): void => {
    if (source !== this.#tone) return;
    this.#tone = null;
    settle(this.#toneWaiters, null);
    this.#toneWaiters = [];
  };

  /** The tone source was replaced (a prompt started) or the endpoint closed: the send is cut short. */
  toneDetached(source: ToneSource, reason: 'replaced' | 'closed'): void {
    if (source !== this.#tone) return;
    this.#tone = null;
    settle(
      this.#toneWaiters,
      new InvalidStateError('DTMF_INTERRUPTED', `in-band DTMF on ${this.id} was interrupted (${reason})`),
    );
    this.#toneWaiters = [];
  }

  /** Abandons what is being sent (the caller's AbortSignal fired). */
  stopSending(): void {
    const err = new InvalidStateError('DTMF_STOPPED', `DTMF sending on ${this.id} was stopped`);
    if (this.#sender !== null) {
      this.#sender = null;
      this.endpoint.sendingEvents = false;
      settle(this.#eventWaiters, err);
      this.#eventWaiters = [];
      this.#updateClock();
    }
    const tone = this.#tone;
    if (tone !== null) {
      this.#tone = null;
      settle(this.#toneWaiters, err);
      this.#toneWaiters = [];
      tone.generator.clear(); // fill() returns 0 on the next tick: the previous source resumes
    }
  }

  /** Endpoint closing: detach from it and fail pending sends. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.stopSending();
    this.#closed = true;
    this.#updateClock();
    if (this.#tapped !== null) this.#tapped.taps.delete(this);
    this.#tapped = null;
    if (this.endpoint.onEventPacket === this.#onEventPacket) this.endpoint.onEventPacket = null;
  }
}

function settle(waiters: Waiter[], err: Error | null): void {
  for (const w of waiters) {
    if (err === null) w.resolve();
    else w.reject(err);
  }
}

function addWork(into: InbandWork, w: Readonly<InbandWork>): void {
  into.windows += w.windows;
  into.analysed += w.analysed;
  into.measured += w.measured;
}
