/**
 * What we sent on one stream, for the sender info of our SRs (RFC 3550 6.4.1), and the round-trip
 * time the peer's report blocks about our stream let us compute. Pure: callers pass times.
 */
import { tsAdd } from '../../common/seq.ts';
import type { ReportBlock } from './rtcp.ts';
import type { SenderInfo } from './rtcpWriter.ts';
import { msToNtp, msToNtpMiddle32, rttFromReportBlock } from './ntp.ts';

export class SendStats {
  readonly clockRate: number;
  #packets = 0;
  #octets = 0;
  #lastTs = 0;
  #lastSendMs = 0;
  #rttMs = NaN;
  #peerFractionLost = 0;
  #peerCumulativeLost = 0;
  #peerJitter = 0;
  readonly #ntp = new Uint32Array(2);

  constructor(clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError(`clock rate must be positive, got ${clockRate}`);
    this.clockRate = clockRate;
  }

  /** One RTP packet sent: `payloadBytes` excludes header and padding (6.4.1 octet count). */
  onPacketSent(rtpTimestamp: number, payloadBytes: number, nowMs: number): void {
    this.#packets++;
    this.#octets += payloadBytes;
    this.#lastTs = rtpTimestamp >>> 0;
    this.#lastSendMs = nowMs;
  }

  get packets(): number {
    return this.#packets;
  }

  get octets(): number {
    return this.#octets;
  }

  get lastRtpTimestamp(): number {
    return this.#lastTs;
  }

  /** true once something was sent: the next report is an SR rather than an RR. */
  get sending(): boolean {
    return this.#packets > 0;
  }

  /**
   * The RTP timestamp that corresponds to `nowMs` (6.4.1: the SR's RTP timestamp is the same
   * instant as its NTP timestamp, "not necessarily equal to the timestamp in any adjacent data
   * packet"): extrapolated from the last packet sent at the clock rate.
   */
  rtpTimestampAt(nowMs: number): number {
    return tsAdd(this.#lastTs, Math.round(((nowMs - this.#lastSendMs) * this.clockRate) / 1000));
  }

  /**
   * Sender info for an SR at this instant: `wallMs` is Unix time (for NTP), `nowMs` the monotonic
   * clock the packets were stamped with. Counts wrap at 32 bits as the fields do.
   */
  senderInfo(wallMs: number, nowMs: number, out?: SenderInfo): SenderInfo {
    const ntp = msToNtp(wallMs, this.#ntp);
    const info = out ?? { ntpMsw: 0, ntpLsw: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0 };
    info.ntpMsw = ntp[0]!;
    info.ntpLsw = ntp[1]!;
    info.rtpTimestamp = this.rtpTimestampAt(nowMs);
    info.packetCount = this.#packets >>> 0;
    info.octetCount = this.#octets % 4294967296;
    return info;
  }

  /**
   * The peer's report block about our stream arrived at Unix time `arrivalWallMs`: keep its loss
   * and jitter figures and update the RTT (6.4.1) when it carries an LSR. Returns the new RTT in
   * ms or NaN.
   */
  onReportBlock(block: ReportBlock, arrivalWallMs: number): number {
    this.#peerFractionLost = block.fractionLost;
    this.#peerCumulativeLost = block.cumulativeLost;
    this.#peerJitter = block.jitter;
    const rtt = rttFromReportBlock(block.lsr, block.dlsr, msToNtpMiddle32(arrivalWallMs));
    if (!Number.isNaN(rtt)) this.#rttMs = rtt;
    return rtt;
  }

  /** Last round-trip time in ms, NaN until a report block with LSR arrived. */
  get rttMs(): number {
    return this.#rttMs;
  }

  /** Loss the peer reports on our stream (fraction of 256 over its last interval). */
  get peerFractionLost(): number {
    return this.#peerFractionLost;
  }

  get peerCumulativeLost(): number {
    return this.#peerCumulativeLost;
  }

  /** Jitter the peer measures on our stream, in ms. */
  get peerJitterMs(): number {
    return (this.#peerJitter * 1000) / this.clockRate;
  }
}
