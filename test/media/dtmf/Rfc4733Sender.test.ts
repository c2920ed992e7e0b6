import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../../src/common/errors.ts';
import type { DtmfEvent } from '../../../src/media/dtmf/DtmfEvent.ts';
import { parseRfc4733Payload, Rfc4733Receiver } from '../../../src/media/dtmf/Rfc4733Receiver.ts';
import { END, MARKER, Rfc4733Sender, SEND } from '../../../src/media/dtmf/Rfc4733Sender.ts';

test('Rfc4733Sender.payloadsFor() marks the first packet, grows the duration and repeats the end three times', () => {
  const packets = new Rfc4733Sender({ clockRate: 8000, ptimeMs: 20, updateMs: 50, volume: 10 }).payloadsFor('#', 200);
  const parsed = packets.map((p) => ({
    ...parseRfc4733Payload(p.payload)!,
    marker: p.marker,
    end: p.end,
    at: p.offsetMs,
  }));
  assert.ok(packets.every((p) => p.payload.length === 4 && p.timestampOffset === 0));
  assert.deepEqual(
    parsed.map((p) => p.marker),
    parsed.map((_, i) => i === 0),
  );
  assert.ok(parsed.every((p) => p.event === 11 && p.volume === 10));
  const updates = parsed.filter((p) => !p.end);
  for (let i = 1; i < updates.length; i++) {
    assert.ok(updates[i]!.duration > updates[i - 1]!.duration, 'durations grow');
    assert.ok(updates[i]!.at - updates[i - 1]!.at <= 50, 'updates at least every 50 ms (RFC 4733 2.5.1.2)');
  }
  const ends = parsed.filter((p) => p.end);
  assert.equal(ends.length, 3);
  assert.ok(
    ends.every((p) => p.duration === 1600),
    'final duration 200 ms at 8 kHz in every copy',
  );
  assert.deepEqual(
    ends.map((p) => p.at),
    [180, 200, 220],
    'end packets on consecutive ticks',
  );
});

test('Rfc4733Sender.payloadsFor() uses the 48 kHz clock and splits long presses into segments', () => {
  const packets = new Rfc4733Sender({ clockRate: 48000 }).payloadsFor('9', 3000);
  const offsets = [...new Set(packets.map((p) => p.timestampOffset))];
  assert.deepEqual(offsets, [0, 0xffff, 2 * 0xffff], 'RFC 4733 2.5.1.3: each segment starts 0xFFFF later');
  const closing = packets.filter((p) => parseRfc4733Payload(p.payload)!.duration === 0xffff);
  assert.equal(closing.length, 2, 'each full segment closes at duration 0xFFFF');
  assert.ok(closing.every((p) => !p.end && !p.marker));
  assert.equal(packets.filter((p) => p.marker).length, 1, 'only the first packet of the press has the marker');
  const last = packets.at(-1)!;
  assert.equal(parseRfc4733Payload(last.payload)!.duration, 3 * 48000 - 2 * 0xffff);
});

test('Rfc4733Sender.next() streams queued digits on the 20 ms clock, with a gap between presses', () => {
  const tx = new Rfc4733Sender({ clockRate: 8000, ptimeMs: 20, gapMs: 60, durationMs: 100 });
  tx.send('1A');
  const events: DtmfEvent[] = [];
  const rx = new Rfc4733Receiver({ onDigit: (e) => events.push(e) });
  const out = new Uint8Array(4);
  let ts = 0;
  let eventTs = 0;
  let ticks = 0;
  const markers: number[] = [];
  while (tx.busy) {
    const flags = tx.next(out);
    if (flags & MARKER) {
      eventTs = ts;
      markers.push(ticks);
    }
    if (flags & SEND) rx.push(5, ticks, eventTs + tx.timestampOffset, (flags & MARKER) !== 0, out, ticks * 20);
    if (flags & END) assert.equal(parseRfc4733Payload(out)!.end, true);
    ts += 160;
    ticks++;
    assert.ok(ticks < 100, 'finishes');
  }
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs]),
    [
      ['1', 100],
      ['A', 100],
    ],
  );
  // 5 ticks of tone, 2 more end copies, 3 ticks of gap.
  assert.deepEqual(markers, [0, 10]);
  assert.equal(tx.next(out), 0, 'idle once done');
});

test('Rfc4733Sender.send() rejects characters that are not DTMF digits', () => {
  const tx = new Rfc4733Sender();
  assert.throws(() => tx.send('12x'), ValidationError);
  assert.equal(tx.busy, false, 'nothing queued from a rejected string');
  assert.throws(() => new Rfc4733Sender({ volume: 64 }), ValidationError);
});

test('Rfc4733Sender.clear() drops queued presses', () => {
  const tx = new Rfc4733Sender();
  tx.send('123');
  tx.next(new Uint8Array(4));
  tx.clear();
  assert.equal(tx.busy, false);
});
