import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseRtcp,
  isRtcp,
  findCname,
  RtcpParseError,
  RTCP_PARSE_ERROR_NAMES,
  type ReportBlock,
  type RtcpPacket,
} from '../../../src/media/rtp/rtcp.ts';
import {
  serializeSenderReport,
  serializeReceiverReport,
  serializeSdes,
  serializeBye,
  buildCompoundRtcp,
  MAX_REPORT_BLOCKS,
} from '../../../src/media/rtp/rtcpWriter.ts';
import { pushU32 } from './helpers.ts';

function block(i: number, cumulativeLost = 3 * i): ReportBlock {
  return {
    ssrc: 0x1000 + i,
    fractionLost: (i * 7) & 0xff,
    cumulativeLost,
    extendedHighestSeq: 0x00010000 + i,
    jitter: 40 + i,
    lsr: 0xb7052000 + i,
    dlsr: 0x00054000,
  };
}

function packets(buf: Uint8Array, length?: number): RtcpPacket[] {
  const r = parseRtcp(buf, 0, length ?? buf.length);
  assert.equal(r.error, 0, `parse error ${RTCP_PARSE_ERROR_NAMES[r.error]}`);
  assert.ok(r.packets !== null);
  return r.packets;
}

const SENDER = {
  ntpMsw: 0xe5d1a2b3,
  ntpLsw: 0x80000000,
  rtpTimestamp: 0xfffffff0,
  packetCount: 1234,
  octetCount: 197440,
};

test('serializeSenderReport() round-trips through parseRtcp() with report blocks', () => {
  const out = new Uint8Array(256);
  const reports = [block(1), block(2, -5)];
  const n = serializeSenderReport(out, 0, { ssrc: 0xcafebabe, ...SENDER, reports });
  assert.equal(n, 28 + 48);
  assert.equal(out[0], 0x82, 'V=2, RC=2');
  assert.equal(out[1], 200);
  assert.equal((out[2]! << 8) | out[3]!, n / 4 - 1, 'length in words minus one');
  const [sr] = packets(out, n);
  assert.deepEqual(sr, { kind: 'sr', ssrc: 0xcafebabe, ...SENDER, reports });
});

test('serializeReceiverReport() writes an empty RR and one with 31 blocks', () => {
  const out = new Uint8Array(1024);
  const n0 = serializeReceiverReport(out, 0, { ssrc: 7, reports: [] });
  assert.equal(n0, 8);
  assert.deepEqual(packets(out, n0), [{ kind: 'rr', ssrc: 7, reports: [] }]);
  const reports = Array.from({ length: 31 }, (_, i) => block(i));
  const n = serializeReceiverReport(out, 0, { ssrc: 7, reports });
  assert.equal(n, 8 + 31 * 24);
  assert.deepEqual(packets(out, n), [{ kind: 'rr', ssrc: 7, reports }]);
  assert.throws(() => serializeReceiverReport(out, 0, { ssrc: 7, reports: [...reports, block(99)] }), RangeError);
});

test('report blocks carry cumulative lost as signed 24 bits and saturate beyond', () => {
  const out = new Uint8Array(64);
  const cases: [number, number][] = [
    [-1, -1],
    [-0x800000, -0x800000],
    [0x7fffff, 0x7fffff],
    [0x1000000, 0x7fffff],
    [-0x900000, -0x800000],
  ];
  for (const [given, expected] of cases) {
    const n = serializeReceiverReport(out, 0, { ssrc: 1, reports: [block(1, given)] });
    const [rr] = packets(out, n);
    assert.ok(rr?.kind === 'rr');
    assert.equal(rr.reports[0]?.cumulativeLost, expected, `cumulative lost ${given}`);
  }
});

test('serializeSdes() pads the CNAME chunk to 32 bits with at least one null octet', () => {
  const out = new Uint8Array(300).fill(0xff);
  for (let len = 0; len <= 9; len++) {
    const cname = 'x'.repeat(len);
    const n = serializeSdes(out, 0, 0x55667788, cname);
    assert.equal(n % 4, 0);
    assert.ok(n >= 8 + 2 + len + 1, `room for the terminating null with ${len} chars`);
    assert.ok(n <= 8 + 2 + len + 4);
    assert.equal(out[8 + 2 + len], 0, 'null octet ends the item list');
    const [rr, sdes] = packets(withEmptyRr(out.subarray(0, n)));
    assert.equal(rr?.kind, 'rr');
    assert.deepEqual(sdes, { kind: 'sdes', chunks: [{ ssrc: 0x55667788, items: [{ type: 1, value: cname }] }] });
  }
  assert.throws(() => serializeSdes(out, 0, 1, 'x'.repeat(256)), RangeError);
});

test('serializeBye() round-trips sources and a UTF-8 reason', () => {
  const out = new Uint8Array(300);
  let n = serializeBye(out, 0, [1, 2, 0xffffffff]);
  assert.equal(n, 16);
  assert.deepEqual(packets(withEmptyRr(out.subarray(0, n)))[1], { kind: 'bye', ssrcs: [1, 2, 0xffffffff] });
  n = serializeBye(out, 0, [9], 'raccroché');
  assert.equal(n % 4, 0);
  assert.deepEqual(packets(withEmptyRr(out.subarray(0, n)))[1], { kind: 'bye', ssrcs: [9], reason: 'raccroché' });
});

test('buildCompoundRtcp() writes SR + SDES + BYE in the order RFC 3550 6.1 requires', () => {
  const out = new Uint8Array(1500);
  const n = buildCompoundRtcp(out, 4, {
    ssrc: 0xabc,
    sender: SENDER,
    reports: [block(1)],
    cname: 'ms@127.0.0.1',
    bye: true,
    byeReason: 'closed',
  });
  const r = parseRtcp(out, 4, n);
  assert.equal(r.error, 0);
  assert.deepEqual(
    r.packets?.map((p) => p.kind),
    ['sr', 'sdes', 'bye'],
  );
  assert.equal(findCname(r.packets ?? [], 0xabc), 'ms@127.0.0.1');
  assert.equal(findCname(r.packets ?? [], 0xabd), undefined);
  const bye = r.packets?.[2];
  assert.deepEqual(bye, { kind: 'bye', ssrcs: [0xabc], reason: 'closed' });
});

test('buildCompoundRtcp() starts with an RR when not sending and spills blocks past 31 into RRs', () => {
  const out = new Uint8Array(4000);
  const reports = Array.from({ length: 70 }, (_, i) => block(i));
  const n = buildCompoundRtcp(out, 0, { ssrc: 5, reports, cname: new TextEncoder().encode('c') });
  const ps = packets(out, n);
  assert.deepEqual(
    ps.map((p) => p.kind),
    ['rr', 'rr', 'rr', 'sdes'],
  );
  const got = ps.flatMap((p) => (p.kind === 'rr' ? p.reports : []));
  assert.equal(got.length, 70);
  assert.deepEqual(got, reports);
  assert.equal(MAX_REPORT_BLOCKS, 31);
  assert.throws(() => buildCompoundRtcp(new Uint8Array(19), 0, { ssrc: 5, reports: [], cname: 'c' }), RangeError);
});

test('parseRtcp() skips APP and feedback packets as "other" but keeps their size', () => {
  const bytes = [...emptyRr(1)];
  bytes.push(0x81, 204, 0, 2); // APP, subtype 1, 3 words
  pushU32(bytes, 1);
  bytes.push(0x6e, 0x61, 0x6d, 0x65);
  bytes.push(0x81, 205, 0, 2); // RTPFB NACK
  pushU32(bytes, 1);
  pushU32(bytes, 2);
  const ps = packets(Uint8Array.from(bytes));
  assert.deepEqual(ps.slice(1), [
    { kind: 'other', packetType: 204, length: 12 },
    { kind: 'other', packetType: 205, length: 12 },
  ]);
});

test('parseRtcp() accepts padding on the last packet of a compound', () => {
  const bytes = [...emptyRr(1)];
  bytes.push(0xa0, 203, 0, 1, 0, 0, 0, 4); // BYE, no sources, 4 padding octets
  const ps = packets(Uint8Array.from(bytes));
  assert.deepEqual(ps[1], { kind: 'bye', ssrcs: [] });
  const single = [0xa0, 201, 0, 2];
  pushU32(single, 3);
  single.push(0, 0, 0, 4);
  assert.deepEqual(packets(Uint8Array.from(single)), [{ kind: 'rr', ssrc: 3, reports: [] }]);
});

test('parseRtcp() rejects each malformed compound with its own code (RFC 3550 A.2)', () => {
  const rr = emptyRr(1);
  const sdesGood = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 1, 0x61, 0];
  const cases: [string, number[], number][] = [
    ['3 bytes', [0x80, 201, 0], RtcpParseError.TOO_SHORT],
    ['2 stray bytes after a valid RR', [...rr, 0x80, 202], RtcpParseError.TOO_SHORT],
    ['version 1 first', [0x40, 201, 0, 1, 0, 0, 0, 1], RtcpParseError.BAD_VERSION],
    ['version 0 second (trailing zeros)', [...rr, 0, 0, 0, 0], RtcpParseError.BAD_VERSION],
    ['SDES first', [...sdesGood, ...rr], RtcpParseError.FIRST_NOT_REPORT],
    ['BYE first', [0x80, 203, 0, 0, ...rr], RtcpParseError.FIRST_NOT_REPORT],
    ['RR length one word too long', [0x80, 201, 0, 2, 0, 0, 0, 1], RtcpParseError.LENGTH_MISMATCH],
    ['second packet runs past the end', [...rr, ...sdesGood.slice(0, 8)], RtcpParseError.LENGTH_MISMATCH],
    ['padding on the first of two', [0xa0, 201, 0, 1, 0, 0, 0, 4, ...sdesGood], RtcpParseError.PADDING_NOT_LAST],
    ['padding count 0', [...rr, 0xa0, 203, 0, 1, 0, 0, 0, 0], RtcpParseError.BAD_PADDING],
    ['padding count larger than the body', [...rr, 0xa0, 203, 0, 1, 0, 0, 0, 5], RtcpParseError.BAD_PADDING],
    ['SR too short for its sender info', [0x80, 200, 0, 1, 0, 0, 0, 1], RtcpParseError.REPORT_OVERFLOW],
    ['RR with RC=1 and no block', [0x81, 201, 0, 1, 0, 0, 0, 1], RtcpParseError.REPORT_OVERFLOW],
    [
      'RR whose block is eaten by padding',
      [0xa1, 201, 0, 7, ...Array<number>(27).fill(0), 24],
      RtcpParseError.REPORT_OVERFLOW,
    ],
    [
      'SDES item longer than the packet',
      [...rr, 0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 0x61, 0],
      RtcpParseError.SDES_MALFORMED,
    ],
    [
      'SDES chunk without a terminating null',
      [...rr, 0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, 0x61, 0x62],
      RtcpParseError.SDES_MALFORMED,
    ],
    [
      'SDES with SC=2 and one chunk',
      [...rr, 0x82, 202, 0, 2, 0, 0, 0, 1, 1, 1, 0x61, 0],
      RtcpParseError.SDES_MALFORMED,
    ],
    ['BYE with SC=2 and one source', [...rr, 0x82, 203, 0, 1, 0, 0, 0, 1], RtcpParseError.BYE_MALFORMED],
    [
      'BYE reason longer than the packet',
      [...rr, 0x81, 203, 0, 2, 0, 0, 0, 1, 9, 0x61, 0x62, 0x63],
      RtcpParseError.BYE_MALFORMED,
    ],
  ];
  const seen = new Set<number>();
  for (const [name, bytes, code] of cases) {
    const r = parseRtcp(Uint8Array.from(bytes));
    assert.equal(r.error, code, `${name}: got ${RTCP_PARSE_ERROR_NAMES[r.error]}`);
    assert.equal(r.packets, null);
    seen.add(code);
  }
  assert.equal(parseRtcp(Uint8Array.from(rr), 4, 8).error, RtcpParseError.BAD_BOUNDS);
  seen.add(RtcpParseError.BAD_BOUNDS);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Object.values(RtcpParseError),
    'every code exercised',
  );
  assert.equal(RTCP_PARSE_ERROR_NAMES.length, Object.values(RtcpParseError).length + 1);
});

test('isRtcp() demultiplexes on the second octet per RFC 5761 section 4', () => {
  const b = new Uint8Array([0x80, 0]);
  const rtcp = [192, 200, 201, 202, 203, 204, 205, 206, 207, 223];
  const rtp = [0, 8, 9, 18, 96, 101, 127, 0x80 | 0, 0x80 | 8, 0x80 | 63, 191, 224, 0x80 | 127];
  for (const v of rtcp) {
    b[1] = v;
    assert.equal(isRtcp(b), true, `second octet ${v}`);
  }
  for (const v of rtp) {
    b[1] = v;
    assert.equal(isRtcp(b), false, `second octet ${v}`);
  }
  assert.equal(isRtcp(new Uint8Array([0x80])), false, 'one byte is nothing');
  assert.equal(isRtcp(new Uint8Array([0, 0, 0x80, 200]), 2), true, 'offset honoured');
  assert.equal(isRtcp(new Uint8Array([0x80, 200]), 1), false);
});

function emptyRr(ssrc: number): number[] {
  const bytes = [0x80, 201, 0, 1];
  pushU32(bytes, ssrc);
  return bytes;
}

function withEmptyRr(tail: Uint8Array): Uint8Array {
  const head = emptyRr(1);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}
