import { startServer } from './helpers/server.ts';
import { RtpPeer } from './helpers/RtpPeer.ts';
const t0 = performance.now();
const s = await startServer();
console.log('start ms', (performance.now() - t0).toFixed(0));
const peer = await RtpPeer.open();
const ep = await s.createEndpoint({ remote_sdp: peer.offer(['pcmu'], { telephoneEvent: true }) });
for (const m of ['prompt:goodbye', 'prompt:goodbye', 'tts:hello there', 'prompt:welcome']) {
  const t1 = performance.now();
  await s.engineRequest(ep.id, 'playback.start', { playbackId: 'p' + t1.toFixed(0), endpointId: ep.id, media: [m] });
  console.log(m, 'start ms', (performance.now() - t1).toFixed(0));
}
peer.close();
await s.close();
