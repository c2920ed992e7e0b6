import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { createAnswer, createOffer, parseRemoteSdp, processAnswer } from '../../../src/control/sdp/index.ts';
import { fixture, fixtureNames, local } from './fixtures.ts';

const FIXTURES = fixtureNames().map(fixture);

/** SDP-shaped lines, so that mutations reach the validation past the first check. */
const sdpLine = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .tuple(fc.constantFrom('v', 'o', 's', 'c', 't', 'm', 'a', 'b', 'i'), fc.string({ maxLength: 30 }))
    .map(([k, v]) => `${k}=${v}`),
  fc
    .tuple(
      fc.constantFrom('audio', 'video', '', '0', 'application'),
      fc.integer({ min: -5, max: 70000 }),
      fc.constantFrom('RTP/AVP', 'RTP/AVPF', 'RTP/SAVP', 'UDP/TLS/RTP/SAVPF', 'udp', ''),
      fc.array(fc.integer({ min: -1, max: 300 }), { maxLength: 5 }),
    )
    .map(([t, p, proto, pts]) => `m=${t} ${p} ${proto} ${pts.join(' ')}`),
  fc
    .tuple(
      fc.integer({ min: -1, max: 300 }),
      fc.constantFrom('PCMU', 'opus', 'L16', 'G722', 'telephone-event', '123', ''),
      fc.integer({ min: 0, max: 100000 }),
      fc.constantFrom('', '/1', '/2', '/x', '/'),
    )
    .map(([pt, n, r, ch]) => `a=rtpmap:${pt} ${n}/${r}${ch}`),
  fc
    .tuple(fc.integer({ min: 0, max: 130 }), fc.constantFrom('0-16', '16', '__proto__=1', 'a=b;c', '=', 'x=1; y'))
    .map(([pt, c]) => `a=fmtp:${pt} ${c}`),
  fc
    .tuple(fc.integer({ min: 0, max: 9 }), fc.constantFrom('1.2.3.4', '0.0.0.0', '::1', '1', '', 'host', '224.0.0.1/3'))
    .map(([v, ip]) => `c=IN IP${v} ${ip}`),
  fc.constantFrom(
    'a=rtcp:',
    'a=rtcp:0',
    'a=rtcp:65536',
    'a=rtcp-mux',
    'a=ptime:',
    'a=ptime:1.2.3',
    'a=sendonly',
    'a=inactive',
    'a=mid:',
    'v=',
    'o=- x y IN IP4 a',
  ),
);

type Mutation = (lines: string[]) => string[];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((i) => (l: string[]) => l.filter((_, j) => j !== i % Math.max(l.length, 1))),
  fc.nat().map((i) => (l: string[]) => {
    const j = i % Math.max(l.length, 1);
    return [...l.slice(0, j + 1), ...l.slice(j)];
  }),
  fc.tuple(fc.nat(), sdpLine).map(([i, s]) => (l: string[]) => {
    const c = [...l];
    c[i % Math.max(c.length, 1)] = s;
    return c;
  }),
  fc.tuple(fc.nat(), sdpLine).map(([i, s]) => (l: string[]) => {
    const c = [...l];
    c.splice(i % (c.length + 1), 0, s);
    return c;
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => (l: string[]) => {
    const c = [...l];
    const a = i % Math.max(c.length, 1);
    const b = j % Math.max(c.length, 1);
    [c[a], c[b]] = [c[b] as string, c[a] as string];
    return c;
  }),
  // Replace one number anywhere with another, often out of range.
  fc
    .tuple(fc.nat(), fc.constantFrom('-1', '0', '128', '65536', '99999999999', '', '1e3', '007'))
    .map(([i, n]) => (l: string[]) => {
      const text = l.join('\n');
      let k = 0;
      return text.replace(/\d+/g, (m) => (k++ === i % 20 ? n : m)).split('\n');
    }),
  fc.nat().map((i) => (l: string[]) => {
    const t = l.join('\r\n');
    return t.slice(0, i % (t.length + 1)).split('\r\n');
  }),
);

const mutated = fc
  .tuple(
    fc.constantFrom(...FIXTURES),
    fc.array(mutation, { minLength: 1, maxLength: 4 }),
    fc.constantFrom('\r\n', '\n'),
  )
  .map(([sdp, ms, eol]) => ms.reduce((l, m) => m(l), sdp.split(/\r?\n/)).join(eol));

const LOCALS = [
  local(),
  local({ codecs: ['opus', 'l16', 'telephone-event'], rtcpMux: false, direction: 'sendonly' }),
  local({ codecs: ['pcma', 'l16/48000'], previousSdp: createOffer(local()).sdp }),
];

function expectedError(err: unknown): boolean {
  return err instanceof ValidationError || err instanceof UnsupportedError;
}

test('createAnswer() on mutated real-world offers only throws ValidationError or UnsupportedError', () => {
  fc.assert(
    fc.property(mutated, fc.constantFrom(...LOCALS), (offer, loc) => {
      let result: ReturnType<typeof createAnswer> | undefined;
      try {
        result = createAnswer(offer, loc);
      } catch (err) {
        if (!expectedError(err)) throw err;
        return;
      }
      // What we answer must itself be valid SDP with the offer's m= lines, in order.
      const ours = parseRemoteSdp(result.sdp);
      const theirs = parseRemoteSdp(offer);
      assert.deepEqual(
        ours.media.map((m) => m.type),
        theirs.media.map((m) => m.type),
      );
      assert.equal(ours.media.filter((m) => m.port !== 0).length, 1);
      assert.ok(result.media.codecs.length >= 1);
    }),
    { numRuns: 1500 },
  );
});

test('processAnswer() on mutated answers only throws ValidationError or UnsupportedError', () => {
  const offer = createOffer(local()).sdp;
  const answers = FIXTURES.filter((f) => {
    try {
      createAnswer(f, local());
      return true;
    } catch {
      return false;
    }
  }).map((f) => createAnswer(offer, local({ ip: '10.0.0.1', rtpPort: 4000, sessionId: f.length })).sdp);
  const answer = fc
    .tuple(fc.constantFrom(...answers), fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([sdp, ms]) => ms.reduce((l, m) => m(l), sdp.split('\r\n')).join('\r\n'));
  fc.assert(
    fc.property(answer, (a) => {
      try {
        const media = processAnswer(offer, a);
        assert.ok(['pcmu', 'pcma', 'g722', 'opus'].includes(media.codec.name));
      } catch (err) {
        if (!expectedError(err)) throw err;
      }
    }),
    { numRuns: 1000 },
  );
});
