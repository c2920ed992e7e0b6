import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { createAnswer, parseRemoteSdp, type Direction } from '../../../src/control/sdp/index.ts';
import { fixture, local, mediaSection } from './fixtures.ts';

const SIPP = fixture('sipp-uac.sdp');

function unsupported(fn: () => unknown, code: string, problem: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UnsupportedError, `expected UnsupportedError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, problem);
    return true;
  });
}

test('createAnswer() answers the SIPp uac offer with PCMU and our address', () => {
  const { sdp, media, sessionVersion } = createAnswer(SIPP, local());
  assert.equal(sessionVersion, 1);
  assert.deepEqual(mediaSection(sdp, 0), [
    'm=audio 10000 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=rtcp:10001',
    'a=ptime:20',
    'a=sendrecv',
  ]);
  assert.match(sdp, /^v=0\r\no=- 7000000001 1 IN IP4 127\.0\.0\.1\r\ns=-\r\nc=IN IP4 127\.0\.0\.1\r\nt=0 0\r\n/);
  assert.deepEqual(media.remote, { ip: '127.0.0.1', rtpPort: 6000, rtcpPort: 6001 });
  assert.deepEqual(media.codec, { name: 'pcmu', payloadType: 0, clockRate: 8000, channels: 1, fmtp: {}, ptime: 20 });
  assert.equal(media.telephoneEvent, null);
  assert.equal(media.rtcpMux, false);
  assert.equal(media.direction, 'sendrecv');
  assert.equal(media.onHold, false);
  // Our answer is itself a valid SDP.
  assert.equal(parseRemoteSdp(sdp).media[0]!.port, 10000);
});

test("createAnswer() keeps the offerer's codec order, not ours (RFC 3264 6.1)", () => {
  const offer = fixture('asterisk-many-codecs.sdp');
  const { media, sdp } = createAnswer(offer, local({ codecs: ['g722', 'pcma', 'pcmu', 'telephone-event'] }));
  assert.equal(media.codec.name, 'pcmu');
  assert.deepEqual(
    media.codecs.map((c) => c.payloadType),
    [0],
  );
  assert.deepEqual(media.telephoneEvent, { payloadType: 101, clockRate: 8000, events: '0-16' });
  assert.equal(mediaSection(sdp, 0)[0], 'm=audio 10000 RTP/AVP 0 101');
  // G.729 and GSM were never ours; they are not echoed.
  assert.doesNotMatch(sdp, /G729|GSM/);
});

test('createAnswer() restricts the offer to the codecs we allow', () => {
  const { media } = createAnswer(fixture('asterisk-many-codecs.sdp'), local({ codecs: ['pcma'] }));
  assert.deepEqual(
    media.codecs.map((c) => c.name),
    ['pcma'],
  );
  assert.equal(media.telephoneEvent, null);
});

test('createAnswer() answers one codec, its telephone-event and CN when offered (README: answer policy)', () => {
  const { sdp, media } = createAnswer(fixture('asterisk-many-codecs.sdp'), local());
  assert.equal(mediaSection(sdp, 0)[0], 'm=audio 10000 RTP/AVP 0 101');
  assert.deepEqual(
    media.codecs.map((c) => c.name),
    ['pcmu'],
  );
  assert.equal(media.comfortNoise, null);
  // CN (RFC 3389) at the codec's clock is answered when offered, and nowhere else.
  const withCn = SIPP.replace('RTP/AVP 0', 'RTP/AVP 0 8 13').replace(
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000',
  );
  const cn = createAnswer(withCn, local());
  assert.equal(mediaSection(cn.sdp, 0)[0], 'm=audio 10000 RTP/AVP 0 13');
  assert.ok(mediaSection(cn.sdp, 0).includes('a=rtpmap:13 CN/8000'));
  assert.deepEqual(cn.media.comfortNoise, { payloadType: 13, clockRate: 8000 });
  const opusCn = createAnswer(fixture('webrtc-ish.sdp'), local());
  assert.equal(opusCn.media.codec.name, 'opus');
  assert.equal(opusCn.media.comfortNoise, null);
});

test("createAnswer() keeps the offerer's dynamic payload types and takes telephone-event/48000 with Opus", () => {
  const { media, sdp } = createAnswer(
    fixture('freeswitch-opus.sdp'),
    local({ codecs: ['opus', 'pcmu', 'telephone-event'] }),
  );
  assert.equal(media.codec.name, 'opus');
  assert.equal(media.codec.payloadType, 102);
  assert.equal(media.codec.clockRate, 48000);
  assert.equal(media.codec.channels, 2);
  assert.equal(media.codec.fmtp.maxaveragebitrate, '30000');
  assert.deepEqual(media.telephoneEvent, { payloadType: 101, clockRate: 48000, events: '0-16' });
  const lines = mediaSection(sdp, 0);
  assert.equal(lines[0], 'm=audio 10000 RTP/AVP 102 101');
  assert.ok(lines.includes('a=rtpmap:102 opus/48000/2'));
  assert.ok(lines.includes('a=rtpmap:101 telephone-event/48000'));
  // RFC 7587 7.1: our receive preferences, mono.
  assert.ok(lines.includes('a=fmtp:102 minptime=10;useinbandfec=1;maxaveragebitrate=32000;stereo=0;sprop-stereo=0'));
});

test('createAnswer() takes telephone-event/8000 when G.722 is chosen (RFC 3551 4.5.2 clock 8000)', () => {
  const { media } = createAnswer(fixture('freeswitch-opus.sdp'), local({ codecs: ['g722', 'telephone-event'] }));
  assert.equal(media.codec.name, 'g722');
  assert.equal(media.codec.clockRate, 8000);
  assert.deepEqual(media.telephoneEvent, { payloadType: 100, clockRate: 8000, events: '0-16' });
});

test('createAnswer() takes telephone-event at another clock rate than the codec when that is all the offer has (baresip)', () => {
  const offer = fixture('freeswitch-opus.sdp').replace(
    'm=audio 24578 RTP/AVP 102 9 0 8 101 100',
    'm=audio 24578 RTP/AVP 102 100',
  );
  const { media, sdp } = createAnswer(offer, local({ codecs: ['opus', 'telephone-event'] }));
  // The endpoint reads event durations at 8 kHz: the format answered is one it accepts.
  assert.deepEqual(media.telephoneEvent, { payloadType: 100, clockRate: 8000, events: '0-16' });
  assert.equal(mediaSection(sdp, 0)[0], 'm=audio 10000 RTP/AVP 102 100');
  assert.ok(mediaSection(sdp, 0).includes('a=rtpmap:100 telephone-event/8000'));
});

test('createAnswer() accepts L16 at 16 kHz with its dynamic payload type', () => {
  const offer = SIPP.replace('RTP/AVP 0', 'RTP/AVP 118 0').replace(
    'a=rtpmap:0',
    'a=rtpmap:118 L16/16000\r\na=rtpmap:0',
  );
  const { media, sdp } = createAnswer(offer, local({ codecs: ['l16', 'pcmu'] }));
  assert.deepEqual([media.codec.name, media.codec.payloadType, media.codec.clockRate], ['l16', 118, 16000]);
  assert.ok(mediaSection(sdp, 0).includes('a=rtpmap:118 L16/16000'));
  // Only the rates allowed: l16/8000 alone refuses 16 kHz and falls back to PCMU.
  assert.equal(createAnswer(offer, local({ codecs: ['l16/8000', 'pcmu'] })).media.codec.name, 'pcmu');
});

test('createAnswer() answers rtcp-mux when offered (RFC 5761) and takes a=rtcp otherwise (RFC 3605)', () => {
  const w = createAnswer(fixture('webrtc-ish.sdp'), local());
  assert.equal(w.media.rtcpMux, true);
  assert.deepEqual(w.media.remote, { ip: '198.51.100.7', rtpPort: 50000, rtcpPort: 50000 });
  const lines = mediaSection(w.sdp, 0);
  assert.ok(lines.includes('a=rtcp-mux'));
  assert.ok(!lines.some((l) => l.startsWith('a=rtcp:')));
  // The profile is echoed, the mid too (RFC 8843 needs it), ICE/extmap/ssrc are not.
  assert.equal(lines[0], 'm=audio 10000 RTP/AVPF 111 110');
  assert.ok(lines.includes('a=mid:0'));
  assert.ok(!lines.some((l) => /ssrc|extmap|candidate|ice-/.test(l)));

  const refused = createAnswer(fixture('webrtc-ish.sdp'), local({ rtcpMux: false }));
  assert.equal(refused.media.rtcpMux, false);
  // a=rtcp:9 is WebRTC's placeholder beside rtcp-mux: RTCP goes to RTP + 1, not to the discard port.
  assert.equal(refused.media.remote?.rtcpPort, 50001);
  assert.ok(mediaSection(refused.sdp, 0).includes('a=rtcp:10001'));

  const v = createAnswer(fixture('video-audio.sdp'), local());
  assert.equal(v.media.remote?.rtcpPort, 7079);
});

test('createAnswer() refuses video and other m= lines with port 0, same count and order (RFC 3264 6)', () => {
  const { sdp, media } = createAnswer(fixture('video-audio.sdp'), local());
  assert.equal(media.mediaIndex, 1);
  assert.equal(media.codec.name, 'opus');
  assert.equal(media.codec.payloadType, 96);
  assert.deepEqual(mediaSection(sdp, 0), ['m=video 0 RTP/AVP 96 97']);
  assert.equal(mediaSection(sdp, 1)[0], 'm=audio 10000 RTP/AVP 96 101');
  assert.deepEqual(mediaSection(sdp, 2), ['m=application 0 UDP/BFCP *']);
  assert.deepEqual(
    parseRemoteSdp(sdp).media.map((m) => [m.type, m.port]),
    [
      ['video', 0],
      ['audio', 10000],
      ['application', 0],
    ],
  );
});

test('createAnswer() answers only the first usable audio m= line', () => {
  const offer = `${SIPP}m=audio 6002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n`;
  const { sdp, media } = createAnswer(offer, local());
  assert.equal(media.mediaIndex, 0);
  assert.equal(mediaSection(sdp, 1)[0], 'm=audio 0 RTP/AVP 8');
  // A refused first audio line (port 0) moves us on to the next one.
  const second = createAnswer(offer.replace('m=audio 6000', 'm=audio 0'), local());
  assert.equal(second.media.mediaIndex, 1);
  assert.equal(second.media.codec.name, 'pcma');
});

const DIRECTIONS: Direction[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
// [offered, ours wanted] -> our answer, RFC 3264 6.1.
const MATRIX: Record<Direction, Record<Direction, Direction>> = {
  sendrecv: { sendrecv: 'sendrecv', sendonly: 'sendonly', recvonly: 'recvonly', inactive: 'inactive' },
  sendonly: { sendrecv: 'recvonly', sendonly: 'inactive', recvonly: 'recvonly', inactive: 'inactive' },
  recvonly: { sendrecv: 'sendonly', sendonly: 'sendonly', recvonly: 'inactive', inactive: 'inactive' },
  inactive: { sendrecv: 'inactive', sendonly: 'inactive', recvonly: 'inactive', inactive: 'inactive' },
};

test('createAnswer() follows the RFC 3264 6.1 direction matrix', () => {
  for (const offered of DIRECTIONS) {
    for (const wanted of DIRECTIONS) {
      const { sdp, media } = createAnswer(`${SIPP}a=${offered}\r\n`, local({ direction: wanted }));
      const expected = MATRIX[offered][wanted];
      assert.equal(media.direction, expected, `offer ${offered}, we want ${wanted}`);
      assert.equal(media.remoteDirection, offered);
      assert.ok(mediaSection(sdp, 0).includes(`a=${expected}`), `offer ${offered}, we want ${wanted}: ${sdp}`);
      assert.equal(media.onHold, offered === 'sendonly' || offered === 'inactive');
    }
  }
});

test('createAnswer() detects an a=sendonly hold re-INVITE and answers recvonly', () => {
  const { media } = createAnswer(fixture('hold-reinvite.sdp'), local());
  assert.equal(media.onHold, true);
  assert.equal(media.direction, 'recvonly');
  assert.deepEqual(media.remote, { ip: '192.168.1.10', rtpPort: 17324, rtcpPort: 17325 });
});

test('createAnswer() reads c=0.0.0.0 as an old-style hold: nowhere to send (RFC 3264 8.4)', () => {
  const { media, sdp } = createAnswer(fixture('hold-old-style.sdp'), local());
  assert.equal(media.onHold, true);
  assert.equal(media.remote, null);
  assert.equal(media.remoteDirection, 'sendonly');
  assert.equal(media.direction, 'recvonly');
  // We still give our real address: the holder may keep sending music on hold.
  assert.match(sdp, /c=IN IP4 127\.0\.0\.1/);
});

test('createAnswer() echoes the offered ptime', () => {
  const { media, sdp } = createAnswer(`${SIPP}a=ptime:30\r\n`, local());
  assert.equal(media.codec.ptime, 30);
  assert.ok(mediaSection(sdp, 0).includes('a=ptime:30'));
  assert.equal(createAnswer(SIPP, local({ ptime: 40 })).media.codec.ptime, 40);
  // Below our 10 ms floor: clamped, not echoed.
  assert.equal(createAnswer(`${SIPP}a=ptime:0.5\r\n`, local()).media.codec.ptime, 10);
});

test('createAnswer() without a common codec says what the offer had and what we support', () => {
  unsupported(
    () => createAnswer(fixture('asterisk-many-codecs.sdp'), local({ codecs: ['opus', 'telephone-event'] })),
    'NO_COMMON_CODEC',
    /the offer has G729\/8000 \(PT 18\): not supported, GSM\/8000 \(PT 3\): not supported, PCMU\/8000 \(PT 0\): not allowed here.*; we support opus\/48000\/2$/,
  );
  const stereoL16 = SIPP.replace('RTP/AVP 0', 'RTP/AVP 10').replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:10 L16/44100/2');
  unsupported(
    () => createAnswer(stereoL16, local({ codecs: ['l16'] })),
    'NO_COMMON_CODEC',
    /L16\/44100\/2 \(PT 10\): clock rate 44100 not supported/,
  );
  const onlyEvents = SIPP.replace('RTP/AVP 0', 'RTP/AVP 101').replace(
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
  );
  unsupported(() => createAnswer(onlyEvents, local()), 'NO_COMMON_CODEC', /only telephone-event/);
  const noRtpmap = SIPP.replace('RTP/AVP 0', 'RTP/AVP 99').replace('a=rtpmap:0 PCMU/8000', '');
  unsupported(() => createAnswer(noRtpmap, local()), 'NO_COMMON_CODEC', /the offer has PT 99: no rtpmap/);
});

test('createAnswer() refuses IPv6, SRTP and an offer with every audio line at port 0, saying why', () => {
  unsupported(() => createAnswer(fixture('ipv6.sdp'), local()), 'UNSUPPORTED_ADDRESS', /IPv6 is not supported/);
  unsupported(() => createAnswer(fixture('srtp-only.sdp'), local()), 'UNSUPPORTED_TRANSPORT', /RTP\/SAVP/);
  unsupported(
    () => createAnswer(SIPP.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 pbx.example.com'), local()),
    'UNSUPPORTED_ADDRESS',
    /host names/,
  );
  unsupported(() => createAnswer(SIPP.replace('m=audio 6000', 'm=audio 0'), local()), 'NO_AUDIO_STREAM', /port 0/);
});

test('createAnswer() validates our own side and codec list', () => {
  const check = (over: Parameters<typeof local>[0], code: string, problem: RegExp): void => {
    assert.throws(
      () => createAnswer(SIPP, local(over)),
      (err: unknown) => err instanceof ValidationError && err.code === code && problem.test(err.message),
    );
  };
  check({ codecs: ['pcmu', 'g729'] }, 'INVALID_CODECS', /unknown codec "g729"/);
  check({ codecs: ['telephone-event'] }, 'INVALID_CODECS', /no audio codec/);
  check({ codecs: ['l16/22050'] }, 'INVALID_CODECS', /clock rate/);
  check({ ip: '::1' }, 'INVALID_LOCAL_MEDIA', /not an IPv4/);
  check({ rtpPort: 0 }, 'INVALID_LOCAL_MEDIA', /rtpPort/);
  check({ sessionId: 'abc' }, 'INVALID_LOCAL_MEDIA', /sessionId/);
  check({ sessionVersion: -1 }, 'INVALID_LOCAL_MEDIA', /sessionVersion/);
  check({ direction: 'both' as Direction }, 'INVALID_LOCAL_MEDIA', /direction/);
});

test('createAnswer() on a re-INVITE keeps the o= version when our answer is unchanged and bumps it otherwise (RFC 3264 8)', () => {
  const first = createAnswer(fixture('asterisk-many-codecs.sdp'), local({ sessionVersion: 5 }));
  assert.equal(first.sessionVersion, 5);
  // Session refresh: same offer again.
  const refresh = createAnswer(
    fixture('asterisk-many-codecs.sdp'),
    local({ sessionVersion: first.sessionVersion, previousSdp: first.sdp }),
  );
  assert.equal(refresh.sessionVersion, 5);
  assert.equal(refresh.sdp, first.sdp);
  // Hold: our direction changes to recvonly, the version goes up by one.
  const holdOffer = fixture('asterisk-many-codecs.sdp').replace('a=sendrecv', 'a=sendonly');
  const hold = createAnswer(holdOffer, local({ sessionVersion: refresh.sessionVersion, previousSdp: refresh.sdp }));
  assert.equal(hold.sessionVersion, 6);
  assert.match(hold.sdp, /^o=- 7000000001 6 IN IP4/m);
  assert.ok(mediaSection(hold.sdp, 0).includes('a=recvonly'));
  // Unhold: changes again.
  const unhold = createAnswer(
    fixture('asterisk-many-codecs.sdp'),
    local({ sessionVersion: hold.sessionVersion, previousSdp: hold.sdp }),
  );
  assert.equal(unhold.sessionVersion, 7);
  assert.equal(unhold.media.onHold, false);
});
