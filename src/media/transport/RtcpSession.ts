import { msToNtp, msToNtpMiddle32, ntpMiddle32, rttFromReportBlock } from '../rtp/ntp.ts';
import { parseRtcp, type ReportBlock } from '../rtp/rtcp.ts';
import { buildCompoundRtcp, type SenderInfo } from '../rtp/rtcpWriter.ts';
import { ReceiveStats } from '../rtp/ReceiveStats.ts';
import { estimateMos } from '../rtp/mos.ts';
import type { RtpSender } from './RtpSender.ts';

/** RFC 3550 6.2: minimum interval 5 s, randomised over [0.5, 1.5] x to avoid synchronisation. */
const REPORT_INTERVAL_MS = 5000;

export interface ReceiveSummary {
  packetsLost: number;
  fractionLost: number;
  jitterMs: number;
  rttMs: number | null;
  mos: number;
}

export interface RtcpInput {
  bye: { ssrc: number; reason: string | null } | null;
}

/**
 * RTCP for one endpoint: receive statistics of the peer's stream (RFC 3550 A.1/A.3/A.8),
 * our periodic SR/RR + SDES reports, and what the peer's reports tell us (RTT from LSR/DLSR).
 */
export class RtcpSession {
  readonly #sender: RtpSender;
  readonly #cname: string;
  #stats: ReceiveStats;
  #nextReportMs = -1;
  #rttMs: number | null = null;
  #sentSinceReport = 0;
  readonly #ntp = new Uint32Array(2);
  readonly #block: ReportBlock = {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lsr: 0,
    dlsr: 0,
  };
  readonly outBuffer = new Uint8Array(1500);
  readonly #input: RtcpInput = { bye: null };
  reportsSent = 0;
  reportsReceived = 0;

  constructor(sender: RtpSender, cname: string, clockRate = 8000) {
    this.#sender = sender;
    this.#cname = cname;
    this.#stats = new ReceiveStats(clockRate);
  }

  setClockRate(clockRate: number): void {
    if (clockRate !== this.#stats.clockRate) this.#stats = new ReceiveStats(clockRate);
  }

  get stats(): ReceiveStats {
    return this.#stats;
  }

  /** Per received RTP packet (hot path). */
  onRtp(ssrc: number, seq: number, ts: number, payloadBytes: number, nowMs: number, isEvent: boolean): void {
    // Telephone-events share the sequence space but their timestamps are event starts:
    // counting them for loss is right, for jitter it is not (RFC 4733 2.3).
    this.#stats.onPacket(ssrc, seq, ts, payloadBytes, nowMs, !isEvent);
  }

  /** Parses a received compound packet; null when it is malformed. */
  onRtcp(buf: Uint8Array, nowMs: number): RtcpInput | null {
    const parsed = parseRtcp(buf, 0, buf.length);
    if (parsed.error !== 0) return null;
    this.reportsReceived++;
    const input = this.#input;
    input.bye = null;
    for (const p of parsed.packets) {
      if (p.kind === 'sr') {
        this.#stats.onSenderReport(ntpMiddle32(p.ntpMsw, p.ntpLsw), nowMs);
        this.#onReports(p.reports, nowMs);
      } else if (p.kind === 'rr') {
        this.#onReports(p.reports, nowMs);
      } else if (p.kind === 'bye') {
        input.bye = { ssrc: p.ssrcs[0] ?? 0, reason: p.reason ?? null };
      }
    }
    return input;
  }

  #onReports(reports: ReportBlock[], nowMs: number): void {
    for (const r of reports) {
      if (r.ssrc !== this.#sender.ssrc) continue;
      const rtt = rttFromReportBlock(r.lsr, r.dlsr, msToNtpMiddle32(performance.timeOrigin + nowMs));
      if (!Number.isNaN(rtt)) this.#rttMs = rtt;
    }
  }

  due(nowMs: number): boolean {
    if (this.#nextReportMs < 0) {
      this.#nextReportMs = nowMs + REPORT_INTERVAL_MS * (0.5 + Math.random());
      return false;
    }
    return nowMs >= this.#nextReportMs;
  }

  /** Builds SR (if we sent since the last report) or RR, + SDES CNAME (+ BYE) into outBuffer. */
  buildReport(nowMs: number, bye: boolean): number {
    this.#nextReportMs = nowMs + REPORT_INTERVAL_MS * (0.5 + Math.random());
    const sender = this.#sender;
    const sent = sender.packets !== this.#sentSinceReport;
    this.#sentSinceReport = sender.packets;
    const block = this.#stats.makeReportBlock(nowMs, this.#block);
    let senderInfo: SenderInfo | undefined;
    if (sent) {
      msToNtp(performance.timeOrigin + nowMs, this.#ntp);
      // RTP timestamp of "now": last sent plus the time since, in our clock (6.4.1).
      const rtpTs = (sender.lastTimestamp + Math.round(((nowMs - sender.lastWallMs) * sender.clockRate) / 1000)) >>> 0;
      senderInfo = {
        ntpMsw: this.#ntp[0]!,
        ntpLsw: this.#ntp[1]!,
        rtpTimestamp: rtpTs,
        packetCount: sender.packets,
        octetCount: sender.octets >>> 0,
      };
    }
    this.reportsSent++;
    return buildCompoundRtcp(this.outBuffer, 0, {
      ssrc: sender.ssrc,
      ...(senderInfo ? { sender: senderInfo } : {}),
      reports: block ? [block] : [],
      cname: this.#cname,
      bye,
    });
  }

  receiveSummary(): ReceiveSummary {
    const s = this.#stats;
    const lost = s.valid ? s.cumulativeLost : 0;
    const lossPercent = s.valid ? s.lossPercent : 0;
    const jitterMs = s.valid ? s.jitterMs : 0;
    return {
      packetsLost: lost,
      fractionLost: s.lastFractionLost / 256,
      jitterMs: Math.round(jitterMs * 100) / 100,
      rttMs: this.#rttMs === null ? null : Math.round(this.#rttMs * 100) / 100,
      mos: Math.round(estimateMos({ lossPercent, jitterMs, rttMs: this.#rttMs ?? 0 }) * 100) / 100,
    };
  }
}
