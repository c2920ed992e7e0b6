import { MAX_LATCH_PACKETS, type EndpointMediaConfig, type WorkerEndpointStats } from '../../protocol/endpoint.ts';
import { ipv4Number } from '../../common/nativeUdp.ts';
import { RtpPacket } from '../rtp/RtpPacket.ts';
import { Drop, dropsToRecord, DROP_REASON_NAMES } from './dropReasons.ts';
import { RtpSender } from './RtpSender.ts';
import { RtcpSession } from './RtcpSession.ts';
import type { JitterBuffer } from '../dsp/JitterBuffer.ts';
import { codecKey, HR_OFFSET_MS, L, LOG_INTS, R, ROUTE_INTS } from './udp/offloadLayout.ts';
import {
  defaultUdpTransportFactory,
  type UdpRemote,
  type UdpTransport,
  type UdpOffload,
  type UdpTransportFactory,
} from './udp/UdpTransport.ts';

/** Counters of the decoding path of received audio (recordings, in-band DTMF). */
export interface ReceivedAudioStats {
  received: number;
  late: number;
  lost: number;
  concealed: number;
  duplicates: number;
  discarded: number;
}

/**
 * The PCM side of an endpoint as the transport drives it (engines/EndpointAudio is the one):
 * owned here so that the transport imports nothing of the engines.
 */
export interface EndpointAudioSide {
  /** Who listens to the decoded audio: the transport hands packets over only when someone does. */
  readonly taps: { readonly size: number };
  /** What generates the outbound audio, if anything does (the silence fill stays out then). */
  readonly source: unknown;
  readonly receivedStats: ReceivedAudioStats | null;
  /** The payload is `packet[offset, offset + length)` (no subarray per packet). */
  onReceived(
    seq: number,
    ts: number,
    packet: Uint8Array,
    nowMs: number,
    ssrc: number,
    offset: number,
    length: number,
  ): void;
  close(): void;
}

/** Receives telephone-event packets (RFC 4733) of an endpoint: the DTMF engine. */
export type EventPacketListener = (
  ssrc: number,
  seq: number,
  ts: number,
  marker: boolean,
  payload: Uint8Array,
  nowMs: number,
) => void;

/** Receives audio packets before decoding, for an engine that de-jitters first (the conference). */
export type AudioPacketListener = (ssrc: number, seq: number, ts: number, payload: Uint8Array, nowMs: number) => void;

/** Where an endpoint's received media goes (a bridge link, later mixers and recorders). */
export interface MediaSink {
  /**
   * A validated packet with our negotiated audio, telephone-event or CN payload type (CN comes
   * with `isEvent` false: the sink tells it by the endpoint's `media.comfortNoise`). The buffer
   * belongs to the sink for this call only (it may rewrite it in place and send it on).
   */
  onPacket(
    buf: Buffer,
    payloadOffset: number,
    payloadLength: number,
    isEvent: boolean,
    seq: number,
    ts: number,
    ssrc: number,
    nowMs: number,
  ): void;
  /** The sink's playout jitter buffer, when it decodes (a transcoding bridge). */
  readonly jitterBuffer?: JitterBuffer | null;
  /**
   * The relay offload: when this sink does nothing to packets of `ssrc` but rewrite their
   * header into another endpoint's stream (a same-codec bridge link), that endpoint's sender
   * block and the source token its rewrite() would be given; null otherwise.
   */
  offloadFor?(ssrc: number, nowMs: number): { sender: SharedArrayBuffer; token: number; ready: boolean } | null;
  /** A packet the addon relayed on this sink's behalf (it counts it as relayed). */
  offloaded?(): void;
}

export interface EndpointListener {
  onMediaTimeout(ep: RtpEndpoint, lastPacketAgoMs: number): void;
  onRemoteLatched(ep: RtpEndpoint, ip: string, port: number, kind: 'rtp' | 'rtcp'): void;
  onBye(ep: RtpEndpoint, ssrc: number, reason: string | null): void;
}

const view = new RtpPacket();

/** How often routes that were not ready are tried again (ms): between two packets of a call. */
const ARM_RETRY_MS = 10;
const armPending = new Set<RtpEndpoint>();
let armTimer: NodeJS.Timeout | null = null;

/**
 * A route across workers waits until what went through the ring has left; the packets that
 * would tell (they go through JavaScript meanwhile) refill the ring as they are checked, so the
 * check runs between them, on a timer of this thread, until armed.
 */
function armLater(ep: RtpEndpoint): void {
  armPending.add(ep);
  if (armTimer !== null) return;
  armTimer = setInterval(() => {
    const now = performance.now();
    for (const p of armPending) if (!p.retryOffload(now)) armPending.delete(p);
    if (armPending.size === 0 && armTimer !== null) {
      clearInterval(armTimer);
      armTimer = null;
    }
  }, ARM_RETRY_MS);
  armTimer.unref();
}

/**
 * One RTP leg inside a media worker: its UDP sockets (RTP + RTCP, or RTCP muxed on the RTP
 * port, RFC 5761), symmetric-RTP latching, receive statistics, RTCP and our outbound stream.
 *
 * Symmetric RTP with a learning probation (like Asterisk's strictrtp=seqno): the remote address
 * comes from SDP, and the first valid packet from that very address locks the leg at once. A
 * packet from any other address (the peer behind a NAT, or someone else) makes that source a
 * candidate: it takes the leg only after `latchPackets` consecutive in-sequence packets, which a
 * stray or spraying source does not produce. The candidate's packets are held meanwhile and
 * delivered in order when it latches, so the real peer's first packets are not lost; those of a
 * candidate that fails are dropped and counted (`unlatched_source`). Once locked, packets from
 * anywhere else are dropped and counted (`source_mismatch`). Only a renegotiation that changes the
 * remote address unlocks the leg again.
 */
export class RtpEndpoint {
  readonly id: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly sender = new RtpSender();
  readonly rtcp: RtcpSession;
  readonly drops = new Uint32Array(DROP_REASON_NAMES.length);

  media: EndpointMediaConfig | null = null;
  /**
   * Accept media only from the address in the SDP: no latching on the first packet (no NAT
   * correction, and no window in which another source could take the leg).
   */
  strictSource = false;
  /** Consecutive in-sequence packets a source other than the SDP's needs to take the leg. */
  latchPackets = 4;
  listener: EndpointListener | null = null;
  /** Telephone-event packets, for DTMF detection; set by the DTMF engine. */
  onEventPacket: EventPacketListener | null = null;
  /**
   * What keeps the stream going while nothing else sends (SILENCE_FILL); set by the worker. A
   * source that ends without a frame calls it so the tick is not left empty.
   */
  idleFill: { onTick(nowMs: number): void } | null = null;
  /** RFC 4733 events are being sent (set by the DTMF engine): the idle fill stands aside meanwhile. */
  sendingEvents = false;

  readonly #rtpSocket: UdpTransport;
  readonly #rtcpSocket: UdpTransport;
  #sink: MediaSink | null = null;
  #audio: EndpointAudioSide | null = null;
  #onAudioPacket: AudioPacketListener | null = null;
  /** The relay offload of the RTP socket (native I/O only) and this leg's route through it. */
  #offload: UdpOffload | null;
  #route: Int32Array | null = null;
  #routeSender: SharedArrayBuffer | null = null;
  /** Something the route depends on changed: re-armed (or not) at the next audio packet. */
  #offloadDirty = true;
  /** The SSRC of the last audio packet JavaScript handled (-1: none), for re-arming between packets. */
  #lastAudioSsrc = -1;
  readonly #mediaTimeoutMs: number;
  #remoteIp = '';
  #remotePort = 0;
  #remoteRtcpPort = 0;
  #remoteRtcpIp = '';
  /** Where the SDP said the peer is: packets from there are trusted at once. */
  #sdpIp = '';
  #sdpPort = 0;
  #sdpRtcpIp = '';
  #sdpRtcpPort = 0;
  /** Latching candidate (a source other than the SDP's) and its run of in-sequence packets. */
  #candidateIp = '';
  #candidatePort = 0;
  #candidateSeq = 0;
  #candidateRun = 0;
  /** The candidate's packets received during its probation, delivered if it latches. */
  readonly #held: Array<Buffer | null> = new Array<Buffer | null>(MAX_LATCH_PACKETS - 1).fill(null);
  /** The peer before the last renegotiation moved us elsewhere: never latched onto again. */
  #formerIp = '';
  #formerRtcpIp = '';
  #formerRtcpPort = 0;
  #formerPort = 0;
  #locked = false;
  #rtcpLocked = false;
  #receiving = false;
  #sending = false;
  #audioPt = -1;
  #eventPt = -1;
  #cnPt = -1;
  #lastPacketMs = 0;
  #timeoutReported = false;
  #closed = false;

  packetsReceived = 0;
  bytesReceived = 0;
  /**
   * Telephone-event and comfort noise packets received. They share the sequence space with audio
   * (RFC 4733 2.1, RFC 3389 4), so `seq - eventPackets` numbers the audio packets alone, without
   * gaps that are not losses.
   */
  eventPackets = 0;
  /** Comfort noise packets received (RFC 3389): counted as received, not decoded or relayed. */
  comfortNoisePackets = 0;

  private constructor(
    id: string,
    rtpPort: number,
    rtcpPort: number,
    mediaTimeoutMs: number,
    cname: string,
    rtp: UdpTransport,
    rtcp: UdpTransport,
  ) {
    this.id = id;
    this.rtpPort = rtpPort;
    this.rtcpPort = rtcpPort;
    this.#mediaTimeoutMs = mediaTimeoutMs;
    this.#rtpSocket = rtp;
    this.#rtcpSocket = rtcp;
    this.rtcp = new RtcpSession(this.sender, cname);
    rtp.onMessage = this.#onRtpMessage;
    rtcp.onMessage = this.#onRtcpMessage;
    this.#offload = rtp.offload ?? null;
    if (this.#offload !== null) {
      this.#offload.onOffloaded = this.#onOffloaded;
      this.#offload.own(this.sender.block);
    }
  }

  /** Where received media goes (a bridge link). */
  get sink(): MediaSink | null {
    return this.#sink;
  }

  set sink(sink: MediaSink | null) {
    this.#sink = sink;
    this.offloadChanged();
  }

  /** PCM side (decode for taps, encode generated audio); created by the engines on demand. */
  get audio(): EndpointAudioSide | null {
    return this.#audio;
  }

  set audio(audio: EndpointAudioSide | null) {
    this.#audio = audio;
    this.offloadChanged();
  }

  /** Audio packets with their sequence number and timestamp, for a jitter buffer; set by the conference engine. */
  get onAudioPacket(): AudioPacketListener | null {
    return this.#onAudioPacket;
  }

  set onAudioPacket(listener: AudioPacketListener | null) {
    this.#onAudioPacket = listener;
    this.offloadChanged();
  }

  /** Relays every packet through JavaScript (RELAY_OFFLOAD=off); before the first packet. */
  disableOffload(): void {
    if (this.#offload !== null) this.#offload.onOffloaded = null;
    this.#offload = null;
    this.sender.setRelayTarget(null);
  }

  /**
   * Something the relay offload depends on changed (the sink, listeners of the received audio,
   * a generated source, the negotiation, the latched peer): this leg's packets go through
   * JavaScript from now on until the next audio packet re-arms the route (if it still applies),
   * and the addon's right to relay into this leg's stream is brought up to date.
   */
  offloadChanged(): void {
    if (this.#offload === null) return;
    if (this.#route !== null) {
      this.#route[R.ARMED] = 0;
      this.#offload.drain(); // counted for the sink that relayed them
    }
    this.#offloadDirty = true;
    this.#refreshRelayTarget();
  }

  /**
   * Arms the route when the only thing to do with this leg's audio is to relay it: a sink that
   * offers an offload, nobody listening to the audio, the source latched (an IPv4 peer).
   */
  #armOffload(ssrc: number, nowMs: number): void {
    this.#offloadDirty = false;
    const offload = this.#offload;
    const sink = this.#sink;
    const media = this.media;
    const audio = this.#audio;
    const ip = ipv4Number(this.#remoteIp);
    const target =
      offload !== null &&
      sink !== null &&
      sink.offloadFor !== undefined &&
      media !== null &&
      this.#locked &&
      ip >= 0 &&
      this.#onAudioPacket === null &&
      (audio === null || audio.taps.size === 0)
        ? sink.offloadFor(ssrc, nowMs)
        : null;
    if (target === null || offload === null || media === null || !target.ready) {
      if (this.#route !== null) this.#route[R.ARMED] = 0;
      // Not yet (what went through JavaScript is still on its way): tried again between packets.
      if (target !== null && !target.ready) {
        this.#offloadDirty = true;
        armLater(this);
      }
      return;
    }
    if (this.#route === null) this.#route = new Int32Array(ROUTE_INTS);
    const route = this.#route;
    route[R.ARMED] = 0;
    if (this.#routeSender !== target.sender) {
      offload.attach(route, target.sender);
      this.#routeSender = target.sender;
    }
    route[R.FROM_IP] = ip | 0;
    route[R.FROM_PORT] = this.#remotePort;
    route[R.PT_IN] = this.#audioPt;
    route[R.SSRC_IN] = ssrc | 0;
    route[R.SOURCE_TOKEN] = target.token | 0;
    route[R.CODEC_KEY] = codecKey(media.codec);
    Atomics.store(route, R.ARMED, 1); // after the fields: the relay thread reads them after it
  }

  /** Lets the addon relay into this leg's stream exactly while JavaScript would (sendRelayed). */
  #refreshRelayTarget(): void {
    const offload = this.#offload;
    const media = this.media;
    const audio = this.#audio;
    const ip = ipv4Number(this.#remoteIp);
    const ok =
      offload !== null && media !== null && this.canSend && (audio === null || audio.source === null) && ip >= 0;
    this.sender.setRelayTarget(
      ok
        ? {
            fd: offload.fd,
            ip,
            port: this.#remotePort,
            payloadType: media.codec.payloadType,
            codecKey: codecKey(media.codec),
          }
        : null,
    );
  }

  /** Retries a route that was not ready (armLater()); false once there is nothing to retry. */
  retryOffload(nowMs: number): boolean {
    if (!this.#offloadDirty || this.#closed || this.#lastAudioSsrc < 0) return false;
    this.#armOffload(this.#lastAudioSsrc, nowMs);
    return this.#offloadDirty;
  }

  /** A packet the addon relayed: the bookkeeping #deliver does for the packets it sees. */
  readonly #onOffloaded = (ints: Int32Array, times: Float64Array, index: number): void => {
    const r = index * LOG_INTS;
    const payloadBytes = ints[r + L.PAYLOAD_BYTES]!;
    const arrivalMs = times[index]! - HR_OFFSET_MS;
    const ssrc = ints[r + L.SSRC]! >>> 0;
    const seq = ints[r + L.SEQ]!;
    const ts = ints[r + L.TS]! >>> 0;
    this.packetsReceived++;
    this.bytesReceived += payloadBytes + 12;
    this.#lastPacketMs = arrivalMs;
    this.#timeoutReported = false;
    this.rtcp.onRtp(ssrc, seq, ts, payloadBytes, arrivalMs, false);
    this.#sink?.offloaded?.();
  };

  /**
   * Binds both sockets; rejects with the bind error (EADDRINUSE) so the caller can retry. `udp`
   * makes the sockets (UDP_IO: node:dgram or the batched native addon).
   */
  static async open(
    id: string,
    ip: string,
    rtpPort: number,
    rtcpPort: number,
    mediaTimeoutMs: number,
    cname: string,
    udp: UdpTransportFactory = defaultUdpTransportFactory(),
  ): Promise<RtpEndpoint> {
    const rtp = udp(4);
    const rtcp = udp(4);
    try {
      await rtp.bind(ip, rtpPort);
      await rtcp.bind(ip, rtcpPort);
    } catch (err) {
      rtp.close();
      rtcp.close();
      throw err;
    }
    return new RtpEndpoint(id, rtpPort, rtcpPort, mediaTimeoutMs, cname, rtp, rtcp);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Applies negotiated media (SDP answer / re-INVITE). */
  configure(media: EndpointMediaConfig, nowMs: number): void {
    const previous = this.media;
    this.media = media;
    this.#audioPt = media.codec.payloadType;
    this.#eventPt = media.telephoneEvent ? media.telephoneEvent.payloadType : -1;
    this.#cnPt = media.comfortNoise ? media.comfortNoise.payloadType : -1;
    const wasSending = this.#sending;
    this.#receiving = media.direction === 'sendrecv' || media.direction === 'recvonly';
    this.#sending = media.direction === 'sendrecv' || media.direction === 'sendonly';
    // Back from hold: the next packet starts a talkspurt whose timestamp covers the time on
    // hold and whose sequence number follows the last one sent (RFC 3550 5.1).
    if (this.#sending && !wasSending) this.sender.resetSource();
    const remote = media.remote;
    const remoteChanged =
      !previous ||
      !remote ||
      !previous.remote ||
      previous.remote.ip !== remote.ip ||
      previous.remote.rtpPort !== remote.rtpPort ||
      previous.remote.rtcpPort !== remote.rtcpPort ||
      previous.rtcpMux !== media.rtcpMux;
    if (remoteChanged) {
      const formerIp = this.#remoteIp;
      const formerPort = this.#remotePort;
      const formerRtcpIp = this.#remoteRtcpIp;
      const formerRtcpPort = this.#remoteRtcpPort;
      this.#remoteIp = remote ? remote.ip : '';
      this.#remotePort = remote ? remote.rtpPort : 0;
      // Moved to another peer (a transfer re-INVITE): the one we leave may still have packets in
      // flight, and latching onto one would send our media back to it and lock the new peer out.
      const moved =
        remote !== null && formerPort !== 0 && (formerPort !== this.#remotePort || formerIp !== this.#remoteIp);
      this.#formerIp = moved ? formerIp : '';
      this.#formerPort = moved ? formerPort : 0;
      // Same for RTCP: a late report or BYE from the peer we left is not the new peer's.
      this.#formerRtcpIp = moved ? formerRtcpIp : '';
      this.#formerRtcpPort = moved ? formerRtcpPort : 0;
      this.#remoteRtcpIp = this.#remoteIp;
      this.#remoteRtcpPort = remote ? (media.rtcpMux ? remote.rtpPort : remote.rtcpPort) : 0;
      this.#sdpIp = this.#remoteIp;
      this.#sdpPort = this.#remotePort;
      this.#sdpRtcpIp = this.#remoteRtcpIp;
      this.#sdpRtcpPort = this.#remoteRtcpPort;
      this.#locked = this.strictSource && remote !== null;
      this.#rtcpLocked = this.#locked;
    }
    // Packets held for a latching candidate were checked against the previous negotiation.
    this.#dropCandidate();
    const codecChanged =
      !previous || previous.codec.clockRate !== media.codec.clockRate || previous.codec.ptime !== media.codec.ptime;
    if (codecChanged) {
      this.sender.clockRate = media.codec.clockRate;
      this.sender.frameSamples = Math.round((media.codec.clockRate * media.codec.ptime) / 1000);
      this.sender.resetSource();
      this.rtcp.setClockRate(media.codec.clockRate);
    }
    this.#lastPacketMs = nowMs;
    this.#timeoutReported = false;
    this.offloadChanged();
  }

  get remote(): { ip: string; rtpPort: number; rtcpPort: number } | null {
    return this.#remotePort ? { ip: this.#remoteIp, rtpPort: this.#remotePort, rtcpPort: this.#remoteRtcpPort } : null;
  }

  get canSend(): boolean {
    return this.#sending && this.#remotePort !== 0 && !this.#closed;
  }

  readonly #onRtpMessage = (msg: Buffer, rinfo: UdpRemote): void => {
    const nowMs = performance.now();
    // RFC 5761 4: with rtcp-mux, RTCP packet types 192-223 share the RTP port.
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) {
      if (this.media && this.media.rtcpMux) this.#onRtcp(msg, rinfo, nowMs);
      else this.drops[Drop.UNKNOWN_PAYLOAD_TYPE]! += 1;
      return;
    }
    const err = RtpPacket.validate(msg, 0, msg.length);
    if (err !== 0) {
      this.drops[err]! += 1;
      return;
    }
    if (this.media === null) {
      this.drops[Drop.NOT_CONFIGURED]! += 1;
      return;
    }
    const pt = msg[1]! & 0x7f;
    const isEvent = pt === this.#eventPt;
    const isCn = pt === this.#cnPt;
    if (pt !== this.#audioPt && !isEvent && !isCn) {
      this.drops[Drop.UNKNOWN_PAYLOAD_TYPE]! += 1;
      return;
    }
    if (this.#locked) {
      if (rinfo.port !== this.#remotePort || rinfo.address !== this.#remoteIp) {
        this.drops[Drop.SOURCE_MISMATCH]! += 1;
        return;
      }
    } else if (rinfo.port === this.#sdpPort && rinfo.address === this.#sdpIp) {
      this.#dropCandidate();
      this.#latch(rinfo.address, rinfo.port);
    } else if (this.strictSource || (rinfo.port === this.#formerPort && rinfo.address === this.#formerIp)) {
      this.drops[Drop.SOURCE_MISMATCH]! += 1;
      return;
    } else if (!this.#probation(msg, rinfo.address, rinfo.port)) {
      return;
    } else {
      this.#latch(rinfo.address, rinfo.port);
      // The packets that earned the latch, in order, before this one.
      const held = this.#held;
      const n = this.#candidateRun - 1;
      for (let i = 0; i < n; i++) {
        const h = held[i]!;
        held[i] = null;
        this.#deliver(h, nowMs);
      }
      this.#candidateRun = 0;
    }
    this.#deliver(msg, nowMs);
  };

  /**
   * One packet of a source that is neither the SDP's address nor locked: true when it completes
   * the source's run of `latchPackets` consecutive sequence numbers (it latches), else the packet
   * is held (a new source or a break in the sequence restarts the run, dropping what was held).
   */
  #probation(msg: Buffer, ip: string, port: number): boolean {
    const seq = (msg[2]! << 8) | msg[3]!;
    if (
      this.#candidateRun > 0 &&
      port === this.#candidatePort &&
      ip === this.#candidateIp &&
      seq === ((this.#candidateSeq + 1) & 0xffff)
    ) {
      this.#candidateRun++;
    } else {
      this.#dropCandidate();
      this.#candidateIp = ip;
      this.#candidatePort = port;
      this.#candidateRun = 1;
    }
    this.#candidateSeq = seq;
    const need =
      this.latchPackets < 1 ? 1 : this.latchPackets > MAX_LATCH_PACKETS ? MAX_LATCH_PACKETS : this.latchPackets;
    if (this.#candidateRun >= need) return true;
    // A copy: the transport may reuse the datagram's memory after this call (native batches).
    this.#held[this.#candidateRun - 1] = Buffer.from(msg);
    return false;
  }

  /** Forgets the current candidate's held packets, counting them as dropped. */
  #dropCandidate(): void {
    const held = this.#held;
    const n = this.#candidateRun;
    for (let i = 0; i < n; i++) held[i] = null;
    if (n > 0) this.drops[Drop.UNLATCHED_SOURCE]! += n;
    this.#candidateRun = 0;
  }

  /** A packet from the accepted source: statistics, then the engines and the sink. */
  #deliver(msg: Buffer, nowMs: number): void {
    const pt = msg[1]! & 0x7f;
    const isEvent = pt === this.#eventPt;
    const isCn = pt === this.#cnPt;
    if (!this.#receiving) {
      this.drops[Drop.NOT_RECEIVING]! += 1;
      return;
    }
    view.wrap(msg, 0, msg.length);
    const seq = view.sequenceNumber;
    const ts = view.timestamp;
    const ssrc = view.ssrc;
    this.packetsReceived++;
    this.bytesReceived += msg.length;
    this.#lastPacketMs = nowMs;
    this.#timeoutReported = false;
    const payloadOffset = view.payloadOffset;
    const payloadLength = view.payloadLength;
    // Events and CN count as received for loss (shared sequence numbers) but carry no sampling
    // instant of the audio: they stay out of the jitter.
    this.rtcp.onRtp(ssrc, seq, ts, payloadLength, nowMs, isEvent || isCn);
    // Engines' handlers must never take the worker down with them: a failure drops the packet
    // and is counted (try/catch costs nothing on V8's optimised path).
    try {
      if (isCn) {
        // The peer's silence (RFC 3389): taps hear nothing, as with DTX; a bridge passes it on.
        this.eventPackets++;
        this.comfortNoisePackets++;
      } else if (isEvent) {
        this.eventPackets++;
        const onEvent = this.onEventPacket;
        if (onEvent !== null)
          onEvent(
            ssrc,
            seq,
            ts,
            (msg[1]! & 0x80) !== 0,
            msg.subarray(payloadOffset, payloadOffset + payloadLength),
            nowMs,
          );
      } else {
        const onAudio = this.#onAudioPacket;
        if (onAudio !== null) onAudio(ssrc, seq, ts, msg.subarray(payloadOffset, payloadOffset + payloadLength), nowMs);
        const audio = this.#audio;
        if (audio !== null && audio.taps.size > 0)
          audio.onReceived(seq, ts, msg, nowMs, ssrc, payloadOffset, payloadLength);
      }
      // The sink may rewrite the buffer in place and send it on: it goes last.
      const sink = this.#sink;
      if (sink !== null) sink.onPacket(msg, payloadOffset, payloadLength, isEvent, seq, ts, ssrc, nowMs);
      if (!isEvent && !isCn) {
        this.#lastAudioSsrc = ssrc;
        if (this.#offloadDirty) this.#armOffload(ssrc, nowMs);
      }
    } catch {
      this.drops[Drop.HANDLER_ERROR]! += 1;
    }
  }

  #latch(ip: string, port: number): void {
    this.#locked = true;
    if (ip !== this.#remoteIp || port !== this.#remotePort) {
      this.#remoteIp = ip;
      this.#remotePort = port;
      if (this.media && this.media.rtcpMux) {
        this.#remoteRtcpIp = ip;
        this.#remoteRtcpPort = port;
      }
      if (this.listener) this.listener.onRemoteLatched(this, ip, port, 'rtp');
    }
    this.offloadChanged();
  }

  readonly #onRtcpMessage = (msg: Buffer, rinfo: UdpRemote): void => {
    this.#onRtcp(msg, rinfo, performance.now());
  };

  #onRtcp(msg: Buffer, rinfo: UdpRemote, nowMs: number): void {
    if (this.media === null) {
      this.drops[Drop.NOT_CONFIGURED]! += 1;
      return;
    }
    if (this.#rtcpLocked) {
      if (rinfo.port !== this.#remoteRtcpPort || rinfo.address !== this.#remoteRtcpIp) {
        this.drops[Drop.SOURCE_MISMATCH]! += 1;
        return;
      }
    } else if (rinfo.port === this.#formerRtcpPort && rinfo.address === this.#formerRtcpIp) {
      this.drops[Drop.SOURCE_MISMATCH]! += 1;
      return;
    } else if (
      !(rinfo.port === this.#sdpRtcpPort && rinfo.address === this.#sdpRtcpIp) &&
      !(this.#locked && rinfo.address === this.#remoteIp && !this.strictSource)
    ) {
      // RTCP from elsewhere than the SDP says is trusted only from the host RTP latched onto
      // (a NAT maps the RTCP port separately); before that it would let anyone take the leg's RTCP.
      this.drops[Drop.UNLATCHED_SOURCE]! += 1;
      return;
    }
    const result = this.rtcp.onRtcp(msg, nowMs);
    if (result === null) {
      this.drops[Drop.MALFORMED_RTCP]! += 1;
      return;
    }
    if (!this.#rtcpLocked) {
      this.#rtcpLocked = true;
      if (rinfo.address !== this.#remoteRtcpIp || rinfo.port !== this.#remoteRtcpPort) {
        this.#remoteRtcpIp = rinfo.address;
        this.#remoteRtcpPort = rinfo.port;
        if (this.listener) this.listener.onRemoteLatched(this, rinfo.address, rinfo.port, 'rtcp');
      }
    }
    if (result.bye !== null && this.listener) this.listener.onBye(this, result.bye.ssrc, result.bye.reason);
  }

  /**
   * Sends a relayed packet (a bridge peer's), rewriting its header in place to continue our
   * stream. `tsIn` is in our clock units.
   */
  sendRelayed(buf: Uint8Array, length: number, source: number, seqIn: number, tsIn: number, nowMs: number): boolean {
    if (!this.canSend) return false;
    // A generated source (player, mixer) owns the outbound stream while it is attached.
    if (this.#audio !== null && this.#audio.source !== null) return false;
    this.sender.rewrite(buf, source, seqIn, tsIn, nowMs);
    this.#rtpSocket.send(buf, 0, length, this.#remotePort, this.#remoteIp);
    this.sender.count(length);
    return true;
  }

  /** Sends a packet whose header was written with `sender.writeHeader()`. */
  send(buf: Uint8Array, length: number): boolean {
    if (!this.canSend) return false;
    this.#rtpSocket.send(buf, 0, length, this.#remotePort, this.#remoteIp);
    this.sender.count(length);
    return true;
  }

  /** Housekeeping, about once a second: RTCP reports when due, media timeout. */
  tick(nowMs: number): void {
    if (this.#closed || this.media === null) return;
    if (this.#remoteRtcpPort !== 0 && this.rtcp.due(nowMs)) {
      const len = this.rtcp.buildReport(nowMs, false);
      const sock = this.media.rtcpMux ? this.#rtpSocket : this.#rtcpSocket;
      sock.send(this.rtcp.outBuffer, 0, len, this.#remoteRtcpPort, this.#remoteRtcpIp);
    }
    if (this.#mediaTimeoutMs > 0 && this.#receiving && !this.#timeoutReported) {
      const ago = nowMs - this.#lastPacketMs;
      if (ago >= this.#mediaTimeoutMs) {
        this.#timeoutReported = true;
        if (this.listener) this.listener.onMediaTimeout(this, Math.round(ago));
      }
    }
  }

  stats(): WorkerEndpointStats {
    this.#offload?.drain();
    const r = this.rtcp.receiveSummary();
    return {
      packetsReceived: this.packetsReceived,
      packetsSent: this.sender.packets,
      bytesReceived: this.bytesReceived,
      bytesSent: this.sender.octets,
      packetsLost: r.packetsLost,
      fractionLost: r.fractionLost,
      jitterMs: r.jitterMs,
      rttMs: r.rttMs,
      mos: r.mos,
      dropped: dropsToRecord(this.drops),
      remote: this.remote,
      jitterBuffer: this.#jitterBufferStats(),
    };
  }

  /**
   * The receive buffer of this leg's decoding path: a transcoding bridge's playout jitter buffer,
   * else the in-order decoding of recordings and in-band DTMF (no playout delay, nothing discarded
   * to adjust one).
   */
  #jitterBufferStats(): WorkerEndpointStats['jitterBuffer'] {
    const jb = this.sink?.jitterBuffer;
    if (jb) {
      const s = jb.stats;
      return {
        delayMs: jb.targetDelayMs,
        late: s.late,
        lost: s.lost,
        concealed: s.concealed,
        duplicates: s.duplicates,
        discarded: s.discarded,
      };
    }
    const r = this.audio?.receivedStats;
    if (!r) return null;
    return {
      delayMs: 0,
      late: r.late,
      lost: r.lost,
      concealed: r.concealed,
      duplicates: r.duplicates,
      discarded: r.discarded,
    };
  }

  /** Sends RTCP BYE (RFC 3550 6.6) and closes the sockets. Idempotent. */
  close(): void {
    if (this.#closed) return;
    // No relaying into our socket once it may close (the addon sends under the block's lock).
    this.sender.setRelayTarget(null);
    if (this.#route !== null) this.#route[R.ARMED] = 0;
    this.#audio?.close();
    this.#audio = null;
    this.onEventPacket = null;
    this.#onAudioPacket = null;
    this.idleFill = null;
    if (this.media !== null && this.#remoteRtcpPort !== 0) {
      try {
        const len = this.rtcp.buildReport(performance.now(), true);
        const mux = this.media.rtcpMux;
        const sock = mux ? this.#rtpSocket : this.#rtcpSocket;
        sock.sendAndClose(this.rtcp.outBuffer, 0, len, this.#remoteRtcpPort, this.#remoteRtcpIp);
        (mux ? this.#rtcpSocket : this.#rtpSocket).close();
        this.#closed = true;
        this.#sink = null;
        return;
      } catch {
        // fall through to a plain close
      }
    }
    this.#closed = true;
    this.#sink = null;
    this.#closeSockets();
  }

  #closeSockets(): void {
    this.#rtpSocket.close();
    this.#rtcpSocket.close();
  }

  /** Which UDP I/O carries this endpoint's datagrams. */
  get udpIo(): UdpTransport['io'] {
    return this.#rtpSocket.io;
  }
}
