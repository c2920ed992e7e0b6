/**
 * Property tests of the two parsers: random bytes and mutated valid packets never make them
 * throw, and whatever they accept is self-consistent. Runs are bounded to keep this file fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtpPacket, RTP_PARSE_ERROR_NAMES } from '../../../src/media/rtp/RtpPacket.ts';
import { parseRtcp, RTCP_PARSE_ERROR_NAMES, type ReportBlock, type RtcpPacket } from '../../../src/media/rtp/rtcp.ts';
import { buildCompoundRtcp } from '../../../src/media/rtp/rtcpWriter.ts';
import { buildRtp } from './helpers.ts';

const RUNS = 1500;
const view = new RtpPacket();

/** validate() must return a known code; on 0 the view must describe a layout that fits. */
function checkRtp(buf: Uint8Array, offset: number, length: number): number {
  const code = RtpPacket.validate(buf, offset, length);
  assert.ok(Number.isInteger(code) && code >= 0 && code < RTP_PARSE_ERROR_NAMES.length, `code ${code}`);
  if (code === 0) {
    view.wrap(buf, offset, length);
    assert.equal(view.version, 2);
    assert.ok(view.headerLength >= 12);
    assert.ok(view.payloadLength >= 0);
    assert.equal(view.headerLength + view.payloadLength + view.paddingLength, length);
    assert.ok(view.payloadOffset + view.payloadLength <= buf.length);
    if (view.padding) assert.ok(view.paddingLength > 0);
  }
  return code;
}

test('RtpPacket.validate() never throws on random bytes, offsets and lengths', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 96 }),
      fc.integer({ min: -4, max: 100 }),
      fc.integer({ min: -4, max: 100 }),
      (buf, off, len) => {
        checkRtp(buf, off, len);
        if (buf.length > 0) checkRtp(buf, 0, buf.length);
      },
    ),
    { numRuns: RUNS },
  );
});

test('RtpPacket.validate() accepts random version-2 headers only when their layout fits', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 80 }), (buf) => {
      buf[0] = 0x80 | (buf[0]! & 0x3f);
      checkRtp(buf, 0, buf.length);
    }),
    { numRuns: RUNS },
  );
});

const rtpSpec = fc.record({
  pt: fc.integer({ min: 0, max: 127 }),
  marker: fc.boolean(),
  seq: fc.integer({ min: 0, max: 0xffff }),
  ts: fc.integer({ min: 0, max: 0xffffffff }),
  ssrc: fc.integer({ min: 0, max: 0xffffffff }),
  csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
  ext: fc.option(fc.record({ profile: fc.integer({ min: 0, max: 0xffff }), words: fc.integer({ min: 0, max: 4 }) }), {
    nil: undefined,
  }),
  payloadLen: fc.integer({ min: 0, max: 40 }),
  padding: fc.integer({ min: 0, max: 12 }),
});

test('RtpPacket reads back every field of a valid generated packet, and survives its mutations', () => {
  fc.assert(
    fc.property(
      rtpSpec,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      (s, mutations, cut) => {
        const payload = Array.from({ length: s.payloadLen }, (_, i) => i & 0xff);
        const ext =
          s.ext === undefined ? undefined : { profile: s.ext.profile, data: Array<number>(s.ext.words * 4).fill(7) };
        const buf = buildRtp({
          pt: s.pt,
          marker: s.marker,
          seq: s.seq,
          ts: s.ts,
          ssrc: s.ssrc,
          csrcs: s.csrcs,
          ext,
          payload,
          padding: s.padding,
        });
        assert.equal(checkRtp(buf, 0, buf.length), 0);
        view.wrap(buf, 0, buf.length);
        assert.deepEqual(
          [
            view.payloadType,
            view.marker,
            view.sequenceNumber,
            view.timestamp,
            view.ssrc,
            view.csrcCount,
            view.extension,
            view.payloadLength,
            view.paddingLength,
          ],
          [s.pt, s.marker, s.seq, s.ts, s.ssrc, s.csrcs.length, s.ext !== undefined, s.payloadLen, s.padding],
        );
        s.csrcs.forEach((c, i) => assert.equal(view.getCsrc(i), c));
        if (s.ext !== undefined) assert.equal(view.extensionLength, s.ext.words * 4);
        // Mutate some bytes and truncate: still a code or a consistent view.
        for (const [pos, v] of mutations) buf[pos % buf.length] = v;
        checkRtp(buf, 0, buf.length);
        checkRtp(buf, 0, cut % (buf.length + 1));
      },
    ),
    { numRuns: RUNS },
  );
});

/** parseRtcp() must return a known code, or packets whose first is a report. */
function checkRtcp(buf: Uint8Array, offset = 0, length = buf.length - offset): RtcpPacket[] | null {
  const r = parseRtcp(buf, offset, length);
  assert.ok(Number.isInteger(r.error) && r.error >= 0 && r.error < RTCP_PARSE_ERROR_NAMES.length);
  if (r.error !== 0) {
    assert.equal(r.packets, null);
    return null;
  }
  assert.ok(r.packets !== null && r.packets.length > 0);
  assert.ok(r.packets[0]!.kind === 'sr' || r.packets[0]!.kind === 'rr');
  assert.equal(length % 4, 0, 'accepted lengths add up to whole words');
  for (const p of r.packets) {
    if (p.kind === 'sr' || p.kind === 'rr') {
      for (const b of p.reports) assert.ok(b.cumulativeLost >= -0x800000 && b.cumulativeLost <= 0x7fffff);
    }
  }
  return r.packets;
}

test('parseRtcp() never throws on random bytes, or on random bytes behind a valid RR header', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -2, max: 130 }), (buf, off) => {
      checkRtcp(buf);
      checkRtcp(buf, off, buf.length - off);
      if (buf.length >= 8) {
        buf[0] = 0x80 | (buf[0]! & 0x3f);
        buf[1] = 201;
        checkRtcp(buf);
      }
    }),
    { numRuns: RUNS },
  );
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const reportBlock: fc.Arbitrary<ReportBlock> = fc
  .record({
    ssrc: u32,
    fractionLost: fc.integer({ min: 0, max: 255 }),
    cumulativeLost: fc.integer({ min: -0x800000, max: 0x7fffff }),
    extendedHighestSeq: u32,
    jitter: u32,
    lsr: u32,
    dlsr: u32,
  })
  .map((b) => ({ ...b })); // plain prototype, for deepEqual against parsed blocks

test('buildCompoundRtcp() output parses back to what was written, and its mutations never throw', () => {
  fc.assert(
    fc.property(
      fc.record({
        ssrc: u32,
        sender: fc.option(
          fc.record({ ntpMsw: u32, ntpLsw: u32, rtpTimestamp: u32, packetCount: u32, octetCount: u32 }),
          { nil: undefined },
        ),
        reports: fc.array(reportBlock, { maxLength: 40 }),
        cname: fc.string({ maxLength: 40 }),
        bye: fc.boolean(),
        byeReason: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      (init, mutations, cut) => {
        const out = new Uint8Array(2048);
        const n = buildCompoundRtcp(out, 0, init);
        const ps = checkRtcp(out, 0, n);
        assert.ok(ps !== null);
        assert.equal(ps[0]!.kind, init.sender === undefined ? 'rr' : 'sr');
        const blocks = ps.flatMap((p) => (p.kind === 'sr' || p.kind === 'rr' ? p.reports : []));
        assert.deepEqual(blocks, init.reports);
        const sdes = ps.find((p) => p.kind === 'sdes');
        assert.deepEqual(sdes, {
          kind: 'sdes',
          chunks: [{ ssrc: init.ssrc, items: [{ type: 1, value: init.cname }] }],
        });
        const bye = ps.find((p) => p.kind === 'bye');
        if (init.bye) {
          assert.deepEqual(
            bye,
            init.byeReason === undefined
              ? { kind: 'bye', ssrcs: [init.ssrc] }
              : { kind: 'bye', ssrcs: [init.ssrc], reason: init.byeReason },
          );
        } else {
          assert.equal(bye, undefined);
        }
        const mutated = out.slice(0, n);
        for (const [pos, v] of mutations) mutated[pos % n] = v;
        checkRtcp(mutated);
        checkRtcp(mutated, 0, cut % (n + 1));
      },
    ),
    { numRuns: RUNS / 3 },
  );
});
