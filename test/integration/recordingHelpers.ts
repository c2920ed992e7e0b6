import { linearToUlaw } from '../../src/media/codecs/g711.ts';
import { RtpPeer } from '../helpers/RtpPeer.ts';
import { tempDir } from '../helpers/audio.ts';
import { startServer } from '../helpers/server.ts';

/** Real speech (8 kHz mono) from asterisk-core-sounds, 1.8 s. */
export const SPEECH_WAV = '/usr/share/asterisk/sounds/en/all-circuits-busy-now.wav';

/**
 * Sends `pcm` as PCMU RTP, one 20 ms packet per timer tick (a real-time peer). Frames whose index
 * is in `lose` are not sent (packet loss: sequence numbers still advance). Resolves when all sent.
 */
export function streamPcmu(
  peer: RtpPeer,
  port: number,
  pcm: Int16Array,
  lose: ReadonlySet<number> = new Set(),
): Promise<void> {
  const frames = Math.floor(pcm.length / 160);
  let i = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    // paced against the absolute timeline (as ffmpeg -re does), so timer drift does not slow it
    const timer = setInterval(() => {
      const due = Math.min(frames, Math.floor((performance.now() - start) / 20) + 1);
      for (; i < due; i++) {
        const payload = new Uint8Array(160);
        for (let k = 0; k < 160; k++) payload[k] = linearToUlaw(pcm[i * 160 + k]!);
        if (lose.has(i)) {
          peer.seq = (peer.seq + 1) & 0xffff;
          peer.ts = (peer.ts + 160) >>> 0;
        } else {
          peer.send(port, payload, 0, { marker: i === 0 });
        }
      }
      if (i >= frames) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

export type T = { after(fn: () => unknown): void };

export async function setup(t: T, env: Record<string, string> = {}) {
  const dir = tempDir(t, 'msc-rec-');
  const server = await startServer({ RECORDINGS_DIR: dir, ...env });
  t.after(() => server.close());
  const recordings = server.recordings;
  return { dir, server, recordings };
}

export async function peerEndpoint(t: T, server: Awaited<ReturnType<typeof startServer>>, affinity?: string) {
  const peer = await RtpPeer.open();
  t.after(() => peer.close());
  const ep = await server.createEndpoint({ remote_sdp: peer.offer(['pcmu']), ...(affinity ? { affinity } : {}) });
  return { peer, ep };
}
