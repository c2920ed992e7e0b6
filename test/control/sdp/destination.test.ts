import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../../src/common/errors.ts';
import { createAnswer, createOffer, processAnswer } from '../../../src/control/sdp/index.ts';
import { fixture, local } from './fixtures.ts';

const SIPP = fixture('sipp-uac.sdp'); // c=IN IP4 127.0.0.1, m=audio 6000 RTP/AVP 0

function invalidSdp(fn: () => unknown, problem: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_SDP');
    assert.match(err.message, problem);
    return true;
  });
}

const withAddress = (ip: string): string => SIPP.replace('c=IN IP4 127.0.0.1', `c=IN IP4 ${ip}`);

test('createAnswer() refuses broadcast, multicast and reserved destinations as INVALID_SDP naming the reason', () => {
  invalidSdp(
    () => createAnswer(withAddress('255.255.255.255'), local()),
    /255\.255\.255\.255: the limited broadcast address/,
  );
  invalidSdp(() => createAnswer(withAddress('224.0.0.1'), local()), /224\.0\.0\.1: multicast/);
  invalidSdp(() => createAnswer(withAddress('239.255.255.250'), local()), /multicast/);
  invalidSdp(() => createAnswer(withAddress('224.2.1.1/127'), local()), /multicast/);
  invalidSdp(() => createAnswer(withAddress('240.0.0.1'), local()), /reserved/);
  invalidSdp(() => createAnswer(withAddress('0.1.2.3'), local()), /this network/);
  invalidSdp(
    () => createAnswer(SIPP.replace('c=IN IP4 127.0.0.1', 'c=IN IP6 ff02::1'), local()),
    /ff02::1: multicast \(ff00::\/8\)/,
  );
  // Unicast, public or private, is fine.
  assert.equal(createAnswer(withAddress('192.0.2.10'), local()).media.remote?.ip, '192.0.2.10');
});

test('createAnswer() refuses RTP and RTCP ports below 1024', () => {
  invalidSdp(() => createAnswer(SIPP.replace('m=audio 6000', 'm=audio 80'), local()), /RTP port 80 is below 1024/);
  invalidSdp(() => createAnswer(`${SIPP}a=rtcp:22\r\n`, local()), /a=rtcp port 22 is below 1024/);
  assert.equal(createAnswer(SIPP.replace('m=audio 6000', 'm=audio 1024'), local()).media.remote?.rtpPort, 1024);
});

test('processAnswer() applies the same destination policy to an answer', () => {
  const offer = createOffer(local()).sdp;
  const answer = (ip: string, port = 6000): string =>
    [
      'v=0',
      'o=- 1 1 IN IP4 192.0.2.1',
      's=-',
      `c=IN IP4 ${ip}`,
      't=0 0',
      `m=audio ${port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      '',
    ].join('\r\n');
  invalidSdp(() => processAnswer(offer, answer('255.255.255.255')), /broadcast/);
  invalidSdp(() => processAnswer(offer, answer('232.1.1.1')), /multicast/);
  invalidSdp(() => processAnswer(offer, answer('192.0.2.1', 53)), /below 1024/);
  assert.equal(processAnswer(offer, answer('192.0.2.1')).remote?.rtpPort, 6000);
});

test('createAnswer() takes c=0.0.0.0 as the RFC 3264 8.4 hold (nowhere to send, whatever the port), and resumes on a real address', () => {
  const hold = createAnswer(withAddress('0.0.0.0').replace('m=audio 6000', 'm=audio 9'), local());
  assert.equal(hold.media.remote, null, 'no destination');
  assert.equal(hold.media.onHold, true);
  assert.equal(hold.media.direction, 'recvonly', 'the peer still sends (sendrecv offered), we must not');
  const resumed = createAnswer(SIPP, local({ sessionVersion: hold.sessionVersion, previousSdp: hold.sdp }));
  assert.deepEqual(resumed.media.remote, { ip: '127.0.0.1', rtpPort: 6000, rtcpPort: 6001 });
  assert.equal(resumed.media.direction, 'sendrecv');
});

test('createAnswer() refuses a=ptime values that are not a positive number of milliseconds', () => {
  for (const bad of ['0', '-20', '1e9', 'abc', '', '0.0']) {
    invalidSdp(() => createAnswer(`${SIPP}a=ptime:${bad}\r\n`, local()), /a=ptime:.* is not a packet time/);
  }
});

test("createAnswer() clamps a ptime to 10-120 ms in the codec's steps, and echoes what it uses", () => {
  const ptime = (offer: string): number => {
    const { media, sdp } = createAnswer(offer, local());
    assert.ok(sdp.includes(`a=ptime:${media.codec.ptime}\r\n`), 'the answer says what we send');
    return media.codec.ptime;
  };
  assert.equal(ptime(`${SIPP}a=ptime:5\r\n`), 10);
  assert.equal(ptime(`${SIPP}a=ptime:1000000\r\n`), 120);
  assert.equal(ptime(`${SIPP}a=ptime:25\r\n`), 20, 'G.711 in 10 ms steps, ties to the shorter');
  assert.equal(ptime(`${SIPP}a=ptime:30\r\n`), 30);
  const opus = fixture('freeswitch-opus.sdp');
  const opusPtime = (p: string): number =>
    createAnswer(opus.replace('a=ptime:20', `a=ptime:${p}`), local({ codecs: ['opus'] })).media.codec.ptime;
  assert.equal(opusPtime('30'), 20, 'Opus has no 30 ms frame (RFC 6716 2.1.4): the nearest, shorter');
  assert.equal(opusPtime('50'), 40);
  assert.equal(opusPtime('120'), 60, 'one Opus frame is at most 60 ms');
});
