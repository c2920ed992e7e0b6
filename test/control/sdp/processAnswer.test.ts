import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { createAnswer, createOffer, processAnswer } from '../../../src/control/sdp/index.ts';
import { local } from './fixtures.ts';

const OFFER = createOffer(local({ codecs: ['opus', 'pcmu', 'telephone-event'] })).sdp;

/** An answer as a typical peer at 192.0.2.50 writes it. */
function answer(mLine: string, attrs: string[]): string {
  return ['v=0', 'o=peer 99 1 IN IP4 192.0.2.50', 's=-', 'c=IN IP4 192.0.2.50', 't=0 0', mLine, ...attrs, ''].join(
    '\r\n',
  );
}

test('processAnswer() reads the answer our own createAnswer() gives to our offer', () => {
  const a = createAnswer(OFFER, local({ ip: '127.0.0.2', rtpPort: 20000, rtcpPort: 20001, sessionId: '5' }));
  const media = processAnswer(OFFER, a.sdp);
  assert.deepEqual(media.remote, { ip: '127.0.0.2', rtpPort: 20000, rtcpPort: 20000 });
  assert.equal(media.rtcpMux, true);
  assert.equal(media.codec.name, 'opus');
  assert.equal(media.codec.payloadType, 96);
  // Our answers name one codec (README: answer policy).
  assert.deepEqual(
    media.codecs.map((c) => c.name),
    ['opus'],
  );
  assert.deepEqual(media.telephoneEvent, { payloadType: 97, clockRate: 48000, events: '0-16' });
  assert.equal(media.direction, 'sendrecv');
});

test("processAnswer() maps payload types by the answer's numbers", () => {
  const a = answer('m=audio 30000 RTP/AVP 111 101', [
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 useinbandfec=1; maxaveragebitrate=24000',
    'a=rtpmap:101 telephone-event/48000',
    'a=fmtp:101 0-15',
  ]);
  const media = processAnswer(OFFER, a);
  assert.equal(media.codec.payloadType, 111);
  assert.equal(media.codec.fmtp.maxaveragebitrate, '24000');
  assert.deepEqual(media.telephoneEvent, { payloadType: 101, clockRate: 48000, events: '0-15' });
  assert.deepEqual(media.remote, { ip: '192.0.2.50', rtpPort: 30000, rtcpPort: 30001 });
  assert.equal(media.rtcpMux, false);
});

test('processAnswer() ignores codecs the answerer added and keeps the ones we offered', () => {
  const a = answer('m=audio 30000 RTP/AVP 18 0', ['a=rtpmap:18 G729/8000', 'a=rtcp:30005', 'a=ptime:30']);
  const media = processAnswer(OFFER, a);
  assert.deepEqual(
    media.codecs.map((c) => c.name),
    ['pcmu'],
  );
  assert.equal(media.codec.ptime, 30);
  assert.equal(media.remote?.rtcpPort, 30005);
  assert.equal(media.telephoneEvent, null);
});

test('processAnswer() rejects an answer that picks nothing we offered', () => {
  const a = answer('m=audio 30000 RTP/AVP 8 18', ['a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000']);
  assert.throws(
    () => processAnswer(OFFER, a),
    (err: unknown) =>
      err instanceof ValidationError &&
      err.code === 'INVALID_SDP' &&
      /none of the codecs we offered \(it has PCMA\/8000 \(PT 8\), G729\/8000 \(PT 18\)\)/.test(err.message),
  );
});

test('processAnswer() rejects an answer with another m= line count, and a refused stream', () => {
  const two = answer('m=audio 30000 RTP/AVP 0', ['m=video 0 RTP/AVP 96']);
  assert.throws(
    () => processAnswer(OFFER, two),
    (err: unknown) => err instanceof ValidationError && /2 m= lines, our offer had 1/.test(err.message),
  );
  const refused = answer('m=audio 0 RTP/AVP 0', []);
  assert.throws(
    () => processAnswer(OFFER, refused),
    (err: unknown) => err instanceof UnsupportedError && err.code === 'STREAM_REJECTED',
  );
  assert.throws(
    () => processAnswer(OFFER, 'garbage'),
    (err: unknown) => err instanceof ValidationError && err.code === 'INVALID_SDP',
  );
});

test("processAnswer() combines our offered direction with the answer's", () => {
  const holdOffer = createOffer(local({ codecs: ['pcmu'], direction: 'sendonly' })).sdp;
  const media = processAnswer(holdOffer, answer('m=audio 30000 RTP/AVP 0', ['a=recvonly']));
  assert.equal(media.direction, 'sendonly');
  assert.equal(media.remoteDirection, 'recvonly');
  assert.equal(media.onHold, false);
  const held = processAnswer(OFFER, answer('m=audio 30000 RTP/AVP 0', ['a=inactive']));
  assert.equal(held.direction, 'inactive');
  assert.equal(held.onHold, true);
});

test("processAnswer() takes the answer's telephone-event at another clock than the codec (opus + telephone-event/8000)", () => {
  const a = answer('m=audio 30000 RTP/AVP 96 98', ['a=rtpmap:96 opus/48000/2', 'a=rtpmap:98 telephone-event/8000']);
  const media = processAnswer(OFFER, a);
  assert.equal(media.codec.name, 'opus');
  assert.deepEqual(media.telephoneEvent, { payloadType: 98, clockRate: 8000, events: '0-15' });
  assert.equal(media.comfortNoise, null);
});
