import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../../src/common/errors.ts';
import { parseRemoteSdp } from '../../../src/control/sdp/index.ts';
import { fixture } from './fixtures.ts';

const SIPP = fixture('sipp-uac.sdp');

function rejects(sdp: string, problem: RegExp): void {
  assert.throws(
    () => parseRemoteSdp(sdp),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.code, 'INVALID_SDP');
      assert.match(err.message, problem);
      return true;
    },
  );
}

test('parseRemoteSdp() reads the SIPp uac offer', () => {
  const p = parseRemoteSdp(SIPP);
  assert.deepEqual(p.origin, {
    username: 'user1',
    sessionId: '53655765',
    sessionVersion: '2353687637',
    address: '127.0.0.1',
  });
  assert.equal(p.media.length, 1);
  const m = p.media[0]!;
  assert.equal(m.type, 'audio');
  assert.equal(m.port, 6000);
  assert.equal(m.protocol, 'RTP/AVP');
  assert.equal(m.connectionIp, '127.0.0.1');
  assert.equal(m.ipVersion, 4);
  assert.equal(m.direction, 'sendrecv');
  assert.deepEqual(m.formats, [{ payloadType: 0, name: 'pcmu', clockRate: 8000, channels: 1, fmtp: {}, fmtpLine: '' }]);
});

test('parseRemoteSdp() resolves static payload types without rtpmap (RFC 3551 table 4)', () => {
  const p = parseRemoteSdp(
    SIPP.replace('m=audio 6000 RTP/AVP 0', 'm=audio 6000 RTP/AVP 0 8 9 18').replace('a=rtpmap:0 PCMU/8000\r\n', ''),
  );
  assert.deepEqual(
    p.media[0]!.formats.map((f) => `${f.payloadType} ${f.name}/${f.clockRate}`),
    ['0 pcmu/8000', '8 pcma/8000', '9 g722/8000', '18 g729/8000'],
  );
});

test('parseRemoteSdp() reads fmtp parameters, channels, ptime and media-level c=', () => {
  const p = parseRemoteSdp(fixture('freeswitch-opus.sdp'));
  const opus = p.media[0]!.formats[0]!;
  assert.equal(opus.name, 'opus');
  assert.equal(opus.channels, 2);
  assert.equal(opus.fmtp.maxaveragebitrate, '30000');
  assert.equal(opus.fmtp.useinbandfec, '1');
  assert.equal(p.media[0]!.ptime, 20);
  const w = parseRemoteSdp(fixture('webrtc-ish.sdp')).media[0]!;
  assert.equal(w.connectionIp, '198.51.100.7');
  assert.equal(w.rtcpMux, true);
  assert.equal(w.rtcpPort, 9);
  assert.equal(w.mid, '0');
});

test('parseRemoteSdp() takes the session-level direction unless the m= line overrides it', () => {
  const session = SIPP.replace('t=0 0\r\n', 't=0 0\r\na=sendonly\r\n');
  assert.equal(parseRemoteSdp(session).media[0]!.direction, 'sendonly');
  assert.equal(parseRemoteSdp(`${session}a=inactive\r\n`).media[0]!.direction, 'inactive');
});

test('parseRemoteSdp() accepts bare LF line endings', () => {
  assert.equal(parseRemoteSdp(SIPP.replaceAll('\r\n', '\n')).media[0]!.port, 6000);
});

test('parseRemoteSdp() rejects garbage, empty and truncated bodies, naming the problem', () => {
  rejects(fixture('garbage.sdp'), /missing v= line/);
  rejects('', /empty/);
  rejects('   \r\n', /empty/);
  rejects(fixture('truncated.sdp'), /m= line 1 is malformed/);
  rejects(SIPP.slice(0, SIPP.indexOf('m=')), /no m= line/);
  rejects(42 as unknown as string, /must be text/);
  rejects(SIPP + 'a=x\r\n'.repeat(20000), /longer than/);
});

test('parseRemoteSdp() rejects a missing o= line, a bad v= and a missing c=', () => {
  rejects(SIPP.replace(/o=.*\r\n/, ''), /o= line/);
  rejects(SIPP.replace('v=0', 'v=1'), /v=1/);
  rejects(SIPP.replace(/c=.*\r\n/, ''), /no c= line for m= line 1 \(audio\)/);
});

test('parseRemoteSdp() accepts a missing session c= when every m= line has one', () => {
  const sdp = SIPP.replace(/c=.*\r\n/, '') + 'c=IN IP4 10.1.2.3\r\n';
  assert.equal(parseRemoteSdp(sdp).media[0]!.connectionIp, '10.1.2.3');
});

test('parseRemoteSdp() rejects ports and payload types out of range', () => {
  rejects(SIPP.replace('m=audio 6000', 'm=audio 70000'), /port "70000" is out of range/);
  rejects(SIPP.replace('RTP/AVP 0', 'RTP/AVP 0 128'), /payload type "128" is out of range 0-127/);
  rejects(SIPP.replace('RTP/AVP 0', 'RTP/AVP 0 abc'), /payload type "abc"/);
  rejects(SIPP.replace('RTP/AVP 0', 'RTP/AVP'), /lists no formats/);
  rejects(`${SIPP}a=rtcp:99999\r\n`, /a=rtcp port "99999"/);
});

test('parseRemoteSdp() rejects an SDP without an audio m= line', () => {
  rejects(SIPP.replace('m=audio', 'm=video').replace('PCMU/8000', 'H261/90000'), /no audio m= line/);
});

test('parseRemoteSdp() keeps non-RTP format tokens (m=application ... *) without validating them as numbers', () => {
  const p = parseRemoteSdp(fixture('video-audio.sdp'));
  assert.deepEqual(
    p.media.map((m) => m.type),
    ['video', 'audio', 'application'],
  );
  assert.deepEqual(p.media[2]!.formatTokens, ['*']);
  assert.deepEqual(p.media[2]!.formats, []);
});

test('parseRemoteSdp() lists a payload type repeated in the m= line once', () => {
  const p = parseRemoteSdp(SIPP.replace('RTP/AVP 0', 'RTP/AVP 0  0 8'));
  assert.deepEqual(
    p.media[0]!.formats.map((f) => f.payloadType),
    [0, 8],
  );
});
