import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  msToNtp,
  ntpToMs,
  ntpMiddle32,
  msToNtpMiddle32,
  compactNtpToMs,
  msToCompactNtp,
  rttFromReportBlock,
  NTP_UNIX_OFFSET_S,
} from '../../../src/media/rtp/ntp.ts';

test('msToNtp() maps the Unix epoch to 2208988800 s and fractions to 2^32ths', () => {
  assert.deepEqual([...msToNtp(0)], [NTP_UNIX_OFFSET_S, 0]);
  assert.deepEqual([...msToNtp(1500)], [NTP_UNIX_OFFSET_S + 1, 0x80000000]);
  assert.deepEqual([...msToNtp(250)], [NTP_UNIX_OFFSET_S, 0x40000000]);
  const out = new Uint32Array(2);
  assert.equal(msToNtp(999.9999999999, out), out, 'writes into the array it is given');
  assert.equal(out[1]! < 2 ** 32, true);
});

test('ntpToMs() inverts msToNtp() to well under a microsecond', () => {
  for (const ms of [0, 1, 1700000000123.456, 2085978495999.999]) {
    const [msw, lsw] = msToNtp(ms);
    assert.ok(Math.abs(ntpToMs(msw!, lsw!) - ms) < 1e-3, `${ms}`);
  }
});

test('ntpMiddle32() takes the low 16 bits of the seconds and the high 16 of the fraction', () => {
  assert.equal(ntpMiddle32(0x0001b710, 0x80001234), 0xb7108000);
  assert.equal(ntpMiddle32(0xffffffff, 0xffffffff), 0xffffffff);
  for (const ms of [0, 1700000000000, 1700000000123.4]) {
    const [msw, lsw] = msToNtp(ms);
    const direct = msToNtpMiddle32(ms);
    const viaFull = ntpMiddle32(msw!, lsw!);
    assert.ok(Math.abs(direct - viaFull) <= 1, `${ms}: ${direct} vs ${viaFull}`);
  }
});

test('compact NTP intervals convert to and from milliseconds', () => {
  assert.equal(compactNtpToMs(0x00054000), 5250);
  assert.equal(msToCompactNtp(5250), 0x00054000);
  assert.equal(msToCompactNtp(-3), 0);
  assert.equal(msToCompactNtp(1e12), 0xffffffff);
});

test('rttFromReportBlock() reproduces the RFC 3550 6.4.1 example', () => {
  // A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s)
  assert.equal(rttFromReportBlock(0xb7052000, 0x00054000, 0xb7108000), 6125);
});

test('rttFromReportBlock() works across the 2^32 wrap of the middle 32 bits', () => {
  const lsr = 0xffff8000; // 0.5 s before the wrap
  const arrival = 0x00018000; // 1.5 s after it
  assert.equal(rttFromReportBlock(lsr, 0x00008000, arrival), 1500);
});

test('rttFromReportBlock() is NaN without an SR or with a DLSR longer than elapsed time', () => {
  assert.ok(Number.isNaN(rttFromReportBlock(0, 0, 0xb7108000)));
  assert.ok(Number.isNaN(rttFromReportBlock(0xb7052000, 0x00100000, 0xb7108000)));
});
