import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RtpPacket,
  RtpParseError,
  RTP_PARSE_ERROR_NAMES,
  RTP_HEADER_LENGTH,
  serializeRtpHeader,
} from '../../../src/media/rtp/RtpPacket.ts';
import { buildRtp } from './helpers.ts';

test('RtpPacket.validate() accepts a minimal 12-byte packet and the view reads its fields', () => {
  const buf = buildRtp({ pt: 8, marker: true, seq: 0xabcd, ts: 0xfedcba98, ssrc: 0x89abcdef, payload: [] });
  assert.equal(buf.length, 12);
  assert.equal(RtpPacket.validate(buf), 0);
  const p = new RtpPacket(buf);
  assert.equal(p.version, 2);
  assert.equal(p.padding, false);
  assert.equal(p.extension, false);
  assert.equal(p.csrcCount, 0);
  assert.equal(p.marker, true);
  assert.equal(p.payloadType, 8);
  assert.equal(p.sequenceNumber, 0xabcd);
  assert.equal(p.timestamp, 0xfedcba98);
  assert.equal(p.ssrc, 0x89abcdef);
  assert.equal(p.headerLength, 12);
  assert.equal(p.payloadOffset, 12);
  assert.equal(p.payloadLength, 0);
});

test('RtpPacket locates the payload after CSRCs and an extension and before the padding', () => {
  const buf = buildRtp({
    csrcs: [0x01020304, 0xa0b0c0d0],
    ext: { profile: 0xbede, data: [0x10, 0xaa, 0, 0, 1, 2, 3, 4] },
    payload: [9, 8, 7, 6, 5],
    padding: 3,
  });
  assert.equal(RtpPacket.validate(buf), 0);
  const p = new RtpPacket(buf);
  assert.equal(p.csrcCount, 2);
  assert.equal(p.getCsrc(0), 0x01020304);
  assert.equal(p.getCsrc(1), 0xa0b0c0d0);
  assert.throws(() => p.getCsrc(2), RangeError);
  assert.equal(p.extensionProfile, 0xbede);
  assert.equal(p.extensionOffset, 12 + 8 + 4);
  assert.equal(p.extensionLength, 8);
  assert.equal(p.headerLength, 12 + 8 + 4 + 8);
  assert.equal(p.paddingLength, 3);
  assert.equal(p.payloadLength, 5);
  assert.deepEqual([...p.payload()], [9, 8, 7, 6, 5]);
  assert.equal(p.payload().buffer, buf.buffer, 'payload() is a view, not a copy');
});

test('RtpPacket.validate() and wrap() honour an offset inside a larger buffer', () => {
  const pkt = buildRtp({ seq: 77, payload: [1, 2, 3] });
  const big = new Uint8Array(100).fill(0xff);
  big.set(pkt, 40);
  assert.equal(RtpPacket.validate(big, 40, pkt.length), 0);
  const p = new RtpPacket().wrap(big, 40, pkt.length);
  assert.equal(p.sequenceNumber, 77);
  assert.equal(p.payloadOffset, 52);
  assert.equal(p.payloadLength, 3);
  assert.equal(p.byteOffset, 40);
  assert.equal(p.byteLength, pkt.length);
});

test('RtpPacket.wrap() rebinds one view to successive packets', () => {
  const view = new RtpPacket();
  const a = buildRtp({ seq: 1, pt: 0 });
  const b = buildRtp({ seq: 2, pt: 8, csrcs: [5] });
  assert.equal(view.wrap(a, 0, a.length).sequenceNumber, 1);
  assert.equal(view.wrap(b, 0, b.length).payloadType, 8);
  assert.equal(view.headerLength, 16);
  assert.equal(view.buffer, b);
});

test('RtpPacket.validate() reports each malformation with its own code', () => {
  const cases: [string, Uint8Array, number, number | undefined, number][] = [
    ['offset past the end', buildRtp(), 20, undefined, RtpParseError.BAD_BOUNDS],
    ['length past the end', buildRtp(), 0, 100, RtpParseError.BAD_BOUNDS],
    ['negative offset', buildRtp(), -1, 12, RtpParseError.BAD_BOUNDS],
    ['11 bytes', buildRtp({ payload: [] }).subarray(0, 11), 0, undefined, RtpParseError.TOO_SHORT],
    ['version 1', buildRtp({ version: 1 }), 0, undefined, RtpParseError.BAD_VERSION],
    ['version 0 (STUN-like)', buildRtp({ version: 0 }), 0, undefined, RtpParseError.BAD_VERSION],
    [
      'CC=2 with one CSRC of room',
      buildRtp({ csrcs: [1, 2], payload: [] }).subarray(0, 16),
      0,
      undefined,
      RtpParseError.CSRC_OVERFLOW,
    ],
    [
      'X with no room for its header',
      buildRtp({ ext: { profile: 1, data: [] }, payload: [] }).subarray(0, 14),
      0,
      undefined,
      RtpParseError.EXTENSION_HEADER_OVERFLOW,
    ],
    [
      'extension length past the end',
      buildRtp({ ext: { profile: 1, data: [1, 2, 3, 4, 5, 6, 7, 8] }, payload: [] }).subarray(0, 20),
      0,
      undefined,
      RtpParseError.EXTENSION_OVERFLOW,
    ],
    ['padding count 0', withLastByte(buildRtp({ padding: 2 }), 0), 0, undefined, RtpParseError.PADDING_ZERO],
    [
      'padding longer than all after the fixed header',
      withLastByte(buildRtp({ payload: [1, 2, 3], padding: 1 }), 5),
      0,
      undefined,
      RtpParseError.PADDING_OVERFLOW,
    ],
    [
      'padding that eats into the CSRC list',
      withLastByte(buildRtp({ csrcs: [7], payload: [1, 2, 3], padding: 1 }), 6),
      0,
      undefined,
      RtpParseError.NEGATIVE_PAYLOAD,
    ],
  ];
  for (const [name, buf, offset, length, code] of cases) {
    assert.equal(RtpPacket.validate(buf, offset, length), code, name);
    assert.ok(RTP_PARSE_ERROR_NAMES[code] !== undefined, `${name}: code has a name`);
  }
});

test('RtpPacket.validate() accepts padding that fills the whole packet after the header', () => {
  const buf = buildRtp({ payload: [], padding: 8 });
  assert.equal(RtpPacket.validate(buf), 0);
  const p = new RtpPacket(buf);
  assert.equal(p.payloadLength, 0);
  assert.equal(p.paddingLength, 8);
});

test('RTP_PARSE_ERROR_NAMES has one distinct name per code, 0 being ok', () => {
  const codes = Object.values(RtpParseError);
  assert.deepEqual(
    codes,
    codes.map((_, i) => i + 1),
  );
  assert.equal(RTP_PARSE_ERROR_NAMES.length, codes.length + 1);
  assert.equal(RTP_PARSE_ERROR_NAMES[0], 'ok');
  assert.equal(new Set(RTP_PARSE_ERROR_NAMES).size, RTP_PARSE_ERROR_NAMES.length);
});

test('RtpPacket setters write in place without touching neighbouring bits', () => {
  const buf = buildRtp({ pt: 0, marker: false, seq: 1, ts: 2, ssrc: 3, csrcs: [4], padding: 2 });
  const p = new RtpPacket(buf);
  p.marker = true;
  assert.equal(p.payloadType, 0);
  p.payloadType = 127;
  assert.equal(p.marker, true);
  p.marker = false;
  assert.equal(p.payloadType, 127);
  p.sequenceNumber = 0xfffe;
  p.timestamp = 0xffffffff;
  p.ssrc = 0x80000001;
  assert.equal(p.sequenceNumber, 0xfffe);
  assert.equal(p.timestamp, 0xffffffff);
  assert.equal(p.ssrc, 0x80000001);
  assert.equal(p.csrcCount, 1, 'CC survives other writes');
  assert.equal(p.padding, true);
  p.extension = true;
  p.extension = false;
  p.version = 2;
  assert.equal(buf[0], 0xa1, 'V=2, P=1, X=0, CC=1 after toggling X');
  p.padding = false;
  assert.equal(buf[0], 0x81);
  assert.equal(p.paddingLength, 0);
  assert.equal(p.getCsrc(0), 4);
});

test('serializeRtpHeader() writes a header that validates and reads back', () => {
  const out = new Uint8Array(64).fill(0xee);
  const n = serializeRtpHeader(out, 10, { pt: 96, seq: 65535, ts: 0x80000000, ssrc: 0xdeadbeef, marker: true });
  assert.equal(n, RTP_HEADER_LENGTH);
  assert.equal(out[9], 0xee, 'nothing written before offset');
  assert.equal(RtpPacket.validate(out, 10, 12 + 20), 0);
  const p = new RtpPacket(out, 10, 32);
  assert.deepEqual(
    [p.version, p.padding, p.extension, p.csrcCount, p.marker, p.payloadType, p.sequenceNumber, p.timestamp, p.ssrc],
    [2, false, false, 0, true, 96, 65535, 0x80000000, 0xdeadbeef],
  );
  serializeRtpHeader(out, 10, { pt: 0, seq: 0, ts: 0, ssrc: 0 });
  assert.equal(p.marker, false);
});

test('serializeRtpHeader() rejects a buffer without room for 12 bytes', () => {
  assert.throws(() => serializeRtpHeader(new Uint8Array(20), 9, { pt: 0, seq: 0, ts: 0, ssrc: 0 }), RangeError);
});

function withLastByte(buf: Uint8Array, v: number): Uint8Array {
  buf[buf.length - 1] = v;
  return buf;
}
