import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DtmfEvent } from '../../../src/media/dtmf/DtmfEvent.ts';
import { Rfc4733Receiver, parseRfc4733Payload } from '../../../src/media/dtmf/Rfc4733Receiver.ts';
import { Rfc4733Sender } from '../../../src/media/dtmf/Rfc4733Sender.ts';
import { readPcapFile } from '../../helpers/pcap.ts';
import { decodeRtp } from './audioTools.ts';
import { needs } from '../../helpers/peers.ts';

const CAPTURES = '/usr/share/sip-tester';

function collector(options: ConstructorParameters<typeof Rfc4733Receiver>[0] = {}): {
  rx: Rfc4733Receiver;
  events: DtmfEvent[];
} {
  const events: DtmfEvent[] = [];
  const rx = new Rfc4733Receiver({ ...options, onDigit: (e) => events.push(e) });
  return { rx, events };
}

function payload(event: number, end: boolean, duration: number, volume = 10): Uint8Array {
  return Uint8Array.of(event, (end ? 0x80 : 0) | volume, duration >> 8, duration & 0xff);
}

test('Rfc4733Receiver gives exactly one right digit for every SIPp dtmf_2833 capture', needs('sipp-captures'), () => {
  const files = readdirSync(CAPTURES)
    .filter((f) => /^dtmf_2833_.*\.pcap$/.test(f))
    .sort();
  assert.equal(files.length, 12, 'sip-tester ships 12 dtmf_2833 captures (0-9, star, pound)');
  const names: Record<string, string> = { star: '*', pound: '#' };
  for (const file of files) {
    const key = file.slice('dtmf_2833_'.length, -'.pcap'.length);
    const expected = names[key] ?? key;
    const packets = readPcapFile(`${CAPTURES}/${file}`)
      .datagrams.map((d) => ({ d, rtp: decodeRtp(d.payload) }))
      .filter((p) => p.rtp !== undefined);
    // The telephone-event payload type: the dynamic PT whose packets are all 4-byte event payloads.
    const byPt = new Map<number, number[]>();
    for (const p of packets) {
      const list = byPt.get(p.rtp!.payloadType) ?? [];
      list.push(p.rtp!.payload.length);
      byPt.set(p.rtp!.payloadType, list);
    }
    const pt = [...byPt].find(([type, lens]) => type >= 96 && lens.every((l) => l === 4))?.[0];
    assert.equal(pt, 101, `${file}: telephone-event PT`);
    const { rx, events } = collector();
    for (const p of packets) {
      if (p.rtp!.payloadType !== pt) continue;
      rx.push(p.rtp!.ssrc, p.rtp!.seq, p.rtp!.timestamp, p.rtp!.marker, p.rtp!.payload, p.d.timeMs);
    }
    rx.tick(packets.at(-1)!.d.timeMs + 10_000);
    assert.equal(events.length, 1, `${file}: one press`);
    assert.equal(events[0]!.digit, expected, file);
    assert.equal(events[0]!.source, 'rfc4733');
    assert.ok(events[0]!.durationMs > 0, `${file}: positive duration`);
    assert.equal(rx.stats.timeouts, 0, `${file}: ended by its E bit, not by the timeout`);
    assert.equal(rx.stats.duplicates, 2, `${file}: the two retransmitted end packets were folded`);
  }
});

test('Rfc4733Receiver.push() starts on a zero-duration packet, grows and ends once on the E bit', () => {
  const starts: string[] = [];
  const events: DtmfEvent[] = [];
  const rx = new Rfc4733Receiver({ onDigit: (e) => events.push(e), onDigitStart: (d) => starts.push(d) });
  let seq = 100;
  rx.push(1, seq++, 8000, true, payload(5, false, 0), 0);
  assert.deepEqual(starts, ['5']);
  for (let d = 160; d <= 800; d += 160) rx.push(1, seq++, 8000, false, payload(5, false, d), d / 8);
  assert.equal(events.length, 0);
  for (let i = 0; i < 3; i++) assert.equal(rx.push(1, seq++, 8000, false, payload(5, true, 960), 120), i === 0 ? 1 : 0);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0], { digit: '5', durationMs: 120, startMs: 0, source: 'rfc4733', volume: 10 });
  assert.equal(rx.stats.duplicates, 2);
});

test('Rfc4733Receiver.push() reports the same digit pressed twice (new timestamp) as two presses', () => {
  const { rx, events } = collector();
  for (const ts of [1000, 3000]) {
    rx.push(7, 1, ts, true, payload(1, false, 160), ts / 8);
    for (let i = 0; i < 3; i++) rx.push(7, 2, ts, false, payload(1, true, 800), ts / 8 + 100);
  }
  assert.deepEqual(
    events.map((e) => e.digit),
    ['1', '1'],
  );
});

test('Rfc4733Receiver.tick() ends a press whose end packets were all lost', () => {
  const { rx, events } = collector({ timeoutMs: 300 });
  rx.push(9, 1, 0, true, payload(11, false, 0), 1000);
  rx.push(9, 2, 0, false, payload(11, false, 400), 1050);
  rx.tick(1200);
  assert.equal(events.length, 0, 'not before the timeout');
  assert.equal(rx.tick(1350), 1);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs]),
    [['#', 50]],
  );
  assert.equal(rx.stats.timeouts, 1);
  // A straggling end packet afterwards is a duplicate, not a second press.
  rx.push(9, 3, 0, false, payload(11, true, 800), 1400);
  assert.equal(events.length, 1);
});

test('Rfc4733Receiver.push() ends an open press when the next one begins', () => {
  const { rx, events } = collector();
  rx.push(9, 1, 0, true, payload(2, false, 160), 0);
  rx.push(9, 2, 2000, true, payload(3, false, 160), 250);
  rx.push(9, 3, 2000, false, payload(3, true, 640), 330);
  assert.deepEqual(
    events.map((e) => e.digit),
    ['2', '3'],
  );
});

test('Rfc4733Receiver joins the segments of a long-duration event (RFC 4733 2.5.1.3)', () => {
  const { rx, events } = collector({ clockRate: 8000 });
  const ts = 0xffff0000; // wraps the 32-bit timestamp during the event too
  rx.push(3, 1, ts, true, payload(0, false, 160), 0);
  rx.push(3, 2, ts, false, payload(0, false, 0xffff), 8190);
  rx.push(3, 3, (ts + 0xffff) >>> 0, false, payload(0, false, 160), 8200);
  rx.push(3, 4, (ts + 0xffff) >>> 0, false, payload(0, true, 8000), 9200);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.digit, '0');
  assert.equal(events[0]!.durationMs, ((0xffff + 8000) * 1000) / 8000);
});

test('Rfc4733Receiver with telephone-event/8000 on a 48 kHz timeline (Opus) joins segments in the event clock', () => {
  const { rx, events } = collector({ clockRate: 8000, timestampRate: 48000 });
  const ts = 0xfff00000;
  rx.push(3, 1, ts, true, payload(4, false, 160), 8000);
  rx.push(3, 2, ts, false, payload(4, false, 0xffff), 16190);
  // The next segment starts 0xFFFF event units later: six times as many 48 kHz timestamp units.
  rx.push(3, 3, (ts + 0xffff * 6) >>> 0, false, payload(4, false, 160), 16200);
  rx.push(3, 4, (ts + 0xffff * 6) >>> 0, false, payload(4, true, 800), 16300);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.digit, '4');
  assert.equal(events[0]!.durationMs, ((0xffff + 800) * 1000) / 8000);
});

test('Rfc4733Receiver counts malformed, non-DTMF and late packets without reporting them', () => {
  const { rx, events } = collector();
  rx.push(1, 1, 500, true, Uint8Array.of(1, 2, 3), 0);
  rx.push(1, 2, 500, true, payload(16, true, 800), 0); // flash hook-style event 16
  rx.push(1, 3, 500, true, payload(255, false, 0), 0);
  rx.push(1, 4, 900, true, payload(4, true, 160), 10);
  rx.push(1, 5, 500, true, payload(6, true, 160), 11); // older timestamp
  assert.deepEqual(
    events.map((e) => e.digit),
    ['4'],
  );
  assert.deepEqual(
    { malformed: rx.stats.malformed, nonDigit: rx.stats.nonDigit, late: rx.stats.late },
    { malformed: 1, nonDigit: 2, late: 1 },
  );
});

test('Rfc4733Receiver keeps presses of different SSRCs apart and uses the 48 kHz clock', () => {
  const { rx, events } = collector({ clockRate: 48000 });
  rx.push(1, 1, 100, true, payload(1, false, 0), 0);
  rx.push(2, 1, 100, true, payload(2, false, 0), 0);
  rx.push(1, 2, 100, false, payload(1, true, 4800), 100);
  rx.push(2, 2, 100, false, payload(2, true, 9600), 200);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs]),
    [
      ['1', 100],
      ['2', 200],
    ],
  );
});

test('parseRfc4733Payload() reads event, E, volume and duration', () => {
  assert.deepEqual(parseRfc4733Payload(payload(10, true, 1234, 7)), {
    event: 10,
    end: true,
    volume: 7,
    duration: 1234,
  });
  assert.equal(parseRfc4733Payload(Uint8Array.of(1, 2)), undefined);
});

test('Rfc4733Receiver reports exactly one press per sender press under any packet loss and reordering', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...'0123456789*#ABCD'),
      fc.integer({ min: 40, max: 3000 }),
      fc.constantFrom(8000, 48000),
      fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }),
      fc.integer({ min: 0, max: 3 }),
      (digit, durationMs, clockRate, lost, swaps) => {
        // At 48 kHz presses over 1.37 s are sent as long-duration segments.
        const packets = new Rfc4733Sender({ clockRate }).payloadsFor(digit, durationMs);
        let kept = packets.filter((_, i) => !lost[i]);
        if (kept.length === 0) kept = [packets[0]!];
        // Local reordering: swap a few neighbours.
        for (let s = 0; s < swaps && kept.length > 1; s++) {
          const i = (s * 7) % (kept.length - 1);
          [kept[i], kept[i + 1]] = [kept[i + 1]!, kept[i]!];
        }
        const { rx, events } = collector({ clockRate });
        for (const [i, p] of kept.entries())
          rx.push(42, i, (1234 + p.timestampOffset) >>> 0, p.marker, p.payload, p.offsetMs);
        rx.tick(1e9);
        assert.equal(events.length, 1);
        assert.equal(events[0]!.digit, digit);
        const firstSegmentKept = kept.some((p) => p.timestampOffset === 0);
        if (kept.some((p) => p.end) && firstSegmentKept) assert.equal(events[0]!.durationMs, durationMs);
        assert.ok(events[0]!.durationMs <= durationMs + 1e-9);
      },
    ),
    { numRuns: 300 },
  );
});
