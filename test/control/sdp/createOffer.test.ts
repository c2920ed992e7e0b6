import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOffer, parseRemoteSdp } from '../../../src/control/sdp/index.ts';
import { local, mediaSection } from './fixtures.ts';

test('createOffer() lists our codecs in our order, static PTs kept, dynamic ones from 96', () => {
  const { sdp, sessionVersion } = createOffer(
    local({ codecs: ['opus', 'pcmu', 'pcma', 'g722', 'l16', 'telephone-event'] }),
  );
  assert.equal(sessionVersion, 1);
  assert.deepEqual(mediaSection(sdp, 0), [
    'm=audio 10000 RTP/AVP 96 0 8 9 97 98 99 100',
    'a=rtpmap:96 opus/48000/2',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:97 L16/16000',
    'a=rtpmap:98 telephone-event/48000',
    'a=rtpmap:99 telephone-event/8000',
    'a=rtpmap:100 telephone-event/16000',
    'a=fmtp:96 minptime=10;useinbandfec=1;maxaveragebitrate=32000;stereo=0;sprop-stereo=0',
    'a=fmtp:98 0-16',
    'a=fmtp:99 0-16',
    'a=fmtp:100 0-16',
    'a=rtcp:10001',
    'a=ptime:20',
    'a=sendrecv',
    'a=rtcp-mux',
  ]);
  assert.match(sdp, /^v=0\r\no=- 7000000001 1 IN IP4 127\.0\.0\.1\r\ns=-\r\nc=IN IP4 127\.0\.0\.1\r\nt=0 0\r\nm=/);
});

test('createOffer() offers telephone-event/8000 only with narrowband codecs, and honours options', () => {
  const { sdp } = createOffer(
    local({
      codecs: ['PCMA', 'telephone-event'],
      direction: 'sendonly',
      ptime: 30,
      rtcpMux: false,
    }),
  );
  assert.deepEqual(mediaSection(sdp, 0), [
    'm=audio 10000 RTP/AVP 8 96',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:96 telephone-event/8000',
    'a=fmtp:96 0-16',
    'a=rtcp:10001',
    'a=ptime:30',
    'a=sendonly',
  ]);
});

test('createOffer() writes explicit L16 rates and our Opus bitrate', () => {
  const { sdp } = createOffer(
    local({ codecs: ['l16/48000', 'l16/8000', 'opus'], opus: { maxAverageBitrate: 20000, useInbandFec: false } }),
  );
  const lines = mediaSection(sdp, 0);
  assert.equal(lines[0], 'm=audio 10000 RTP/AVP 96 97 98');
  assert.ok(lines.includes('a=rtpmap:96 L16/48000'));
  assert.ok(lines.includes('a=rtpmap:97 L16/8000'));
  assert.ok(lines.includes('a=fmtp:98 minptime=10;useinbandfec=0;maxaveragebitrate=20000;stereo=0;sprop-stereo=0'));
});

test('createOffer() output is an SDP we parse back as offered', () => {
  const { sdp } = createOffer(local());
  const m = parseRemoteSdp(sdp).media[0]!;
  assert.deepEqual(
    m.formats.map((f) => `${f.payloadType}:${f.name}/${f.clockRate}/${f.channels}`),
    [
      '0:pcmu/8000/1',
      '8:pcma/8000/1',
      '9:g722/8000/1',
      '96:opus/48000/2',
      '97:telephone-event/8000/1',
      '98:telephone-event/48000/1',
    ],
  );
  assert.equal(m.rtcpMux, true);
  assert.equal(m.rtcpPort, 10001);
});

test('createOffer() re-offer keeps the version when nothing changed and bumps it for a hold (RFC 3264 8)', () => {
  const first = createOffer(local({ sessionVersion: 9 }));
  const same = createOffer(local({ sessionVersion: first.sessionVersion, previousSdp: first.sdp }));
  assert.equal(same.sessionVersion, 9);
  assert.equal(same.sdp, first.sdp);
  const hold = createOffer(
    local({ sessionVersion: same.sessionVersion, previousSdp: same.sdp, direction: 'sendonly' }),
  );
  assert.equal(hold.sessionVersion, 10);
  assert.match(hold.sdp, /^o=- 7000000001 10 /m);
  // A previous SDP that is not even SDP counts as changed.
  assert.equal(createOffer(local({ previousSdp: 'nonsense' })).sessionVersion, 2);
});

test('createOffer() accepts a 64-bit session id written as a string', () => {
  const { sdp } = createOffer(local({ sessionId: '18446744073709551615' }));
  assert.match(sdp, /^o=- 18446744073709551615 1 IN IP4 /m);
});
