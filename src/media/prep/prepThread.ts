/**
 * An AudioPrepPool thread: decodes prompt files and HTTP media and synthesises speech, so that a
 * media worker only ever receives ready PCM. At start it loads and warms the TTS engine (one short
 * synthesis: module compile, instantiation, JIT) and the decoders, then says 'ready'; jobs that
 * arrive meanwhile wait for that.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../../common/errors.ts';
import { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import { lowerThreadPriority } from '../../common/threadPriority.ts';
import { decodeMp3 } from '../playback/decodeAudio.ts';
import { EspeakWasmEngine } from '../tts/EspeakWasmEngine.ts';
import { TtsService } from '../tts/TtsService.ts';
import type { PrepRequest } from './AudioPrep.ts';
import { loadAudio } from './loadAudio.ts';

export type ThreadJob = { t: 'job'; id: number; req: PrepRequest };
export type ThreadReply =
  | { t: 'ready'; warmMs: number }
  | { t: 'done'; id: number; pcm: Int16Array; sampleRate: number }
  | { t: 'fail'; id: number; err: ReturnType<typeof serializeError> };

const port = parentPort;
if (port === null) throw new Error('prepThread.ts must run in a worker thread');

// Bulk work: when cores are short, the media clocks go first.
lowerThreadPriority();

const tts = new TtsService({ engines: [new EspeakWasmEngine()], maxTextLength: 4000 });
const data = (workerData ?? {}) as { fetchAllow?: string[]; fetchDeny?: string[] };
const policy = new DestinationPolicy({ allow: data.fetchAllow ?? [], deny: data.fetchDeny ?? [] });

async function warmUp(): Promise<void> {
  await tts.synthesize('Ready.', { sampleRate: 8000, bypassCache: true });
  // mpg123's WASM: one MPEG-1 layer III frame header with no audio decodes to an error, which is fine.
  await decodeMp3(new Uint8Array([0xff, 0xfb, 0x90, 0x00, ...new Array<number>(413).fill(0)])).catch(() => undefined);
}

const start = performance.now();
const warmed = warmUp()
  .catch(() => undefined)
  .then(() => {
    port.postMessage({ t: 'ready', warmMs: performance.now() - start } satisfies ThreadReply);
  });

async function run(job: ThreadJob): Promise<void> {
  await warmed;
  try {
    const audio = await loadAudio(job.req, tts, policy);
    // Into shared memory: the pool caches it and every media worker reads the same bytes.
    const pcm = new Int16Array(new SharedArrayBuffer(audio.pcm.byteLength));
    pcm.set(audio.pcm);
    port!.postMessage({ t: 'done', id: job.id, pcm, sampleRate: audio.sampleRate } satisfies ThreadReply);
  } catch (err) {
    port!.postMessage({ t: 'fail', id: job.id, err: serializeError(err) } satisfies ThreadReply);
  }
}

port.on('message', (job: ThreadJob) => {
  void run(job);
});
