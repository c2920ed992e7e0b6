import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { createAnswer, type NegotiatedCodec } from '../../../src/control/sdp/index.ts';
import { fixture, local } from './fixtures.ts';
import { needs } from '../../helpers/peers.ts';

/** A free UDP port from the kernel (ffprobe binds it, and the next one for RTCP, right after). */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

/** One RTP packet (RFC 3550 5.1) carrying `payload`. */
function rtp(pt: number, seq: number, ts: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = pt & 0x7f;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(0x11223344, 8);
  b.set(payload, 12);
  return b;
}

interface Probed {
  codec_name: string;
  sample_rate: string;
  channels: number;
}

/**
 * Write our answer to a file, point ffprobe at it as the receiver it describes, and stream RTP
 * to the port it names until ffprobe has identified the stream.
 */
async function probe(
  t: TestContext,
  sdp: string,
  port: number,
  codec: NegotiatedCodec,
  payload: Uint8Array,
): Promise<Probed> {
  const dir = mkdtempSync(join(tmpdir(), 'sdp-ffprobe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'answer.sdp');
  writeFileSync(file, sdp);
  const child = spawn(
    'ffprobe',
    [
      '-v',
      'error',
      '-protocol_whitelist',
      'file,udp,rtp',
      '-analyzeduration',
      '300000',
      '-show_streams',
      '-of',
      'json',
      '-i',
      file,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = once(child, 'exit');
  const sock = createSocket('udp4');
  const samplesPerPacket = (codec.clockRate * codec.ptime) / 1000;
  let seq = 0;
  // Paced like a real sender (one packet per ptime), not a wait: ffprobe returns once it has seen enough.
  const timer = setInterval(() => {
    sock.send(rtp(codec.payloadType, seq, seq * samplesPerPacket, payload), port, '127.0.0.1');
    seq++;
  }, codec.ptime);
  const guard = setTimeout(() => child.kill('SIGKILL'), 15000);
  t.after(() => {
    clearInterval(timer);
    clearTimeout(guard);
    sock.close();
    child.kill('SIGKILL');
  });
  const [code] = await exited;
  clearInterval(timer);
  assert.equal(code, 0, `ffprobe failed on our SDP:\n${sdp}\n${err}`);
  const streams = (JSON.parse(out) as { streams: Probed[] }).streams;
  assert.equal(streams.length, 1, out);
  return streams[0] as Probed;
}

test(
  'createAnswer() PCMU answer to the SIPp offer is read by ffprobe as pcm_mulaw 8 kHz',
  needs('ffprobe'),
  async (t) => {
    const port = await freePort();
    const { sdp, media } = createAnswer(fixture('sipp-uac.sdp'), local({ rtpPort: port, rtcpPort: port + 1 }));
    const s = await probe(t, sdp, port, media.codec, new Uint8Array(160).fill(0xff));
    assert.equal(s.codec_name, 'pcm_mulaw');
    assert.equal(s.sample_rate, '8000');
  },
);

test(
  'createAnswer() L16/16000 answer on a dynamic payload type is read by ffprobe as pcm_s16be 16 kHz',
  needs('ffprobe'),
  async (t) => {
    const port = await freePort();
    const offer = fixture('sipp-uac.sdp')
      .replace('RTP/AVP 0', 'RTP/AVP 118')
      .replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:118 L16/16000');
    const { sdp, media } = createAnswer(offer, local({ rtpPort: port, rtcpPort: port + 1, codecs: ['l16'] }));
    assert.equal(media.codec.payloadType, 118);
    const s = await probe(t, sdp, port, media.codec, new Uint8Array(640));
    assert.equal(s.codec_name, 'pcm_s16be');
    assert.equal(s.sample_rate, '16000');
  },
);

// ffmpeg reads one format per m= line (the last rtpmap it knows wins): our answers name one codec.
test(
  'createAnswer() Opus answer (RFC 7587 rtpmap and fmtp) is read by ffprobe as opus 48 kHz',
  needs('ffprobe'),
  async (t) => {
    const port = await freePort();
    const { sdp, media } = createAnswer(fixture('freeswitch-opus.sdp'), local({ rtpPort: port, rtcpPort: port + 1 }));
    assert.equal(media.codec.name, 'opus');
    const enc = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    t.after(() => enc.delete());
    const packet = new Uint8Array(enc.encode(Buffer.alloc(960 * 2), 960));
    const s = await probe(t, sdp, port, media.codec, packet);
    assert.equal(s.codec_name, 'opus');
    assert.equal(s.sample_rate, '48000');
  },
);
