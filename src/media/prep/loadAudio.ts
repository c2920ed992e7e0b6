import { readFile } from 'node:fs/promises';
import { UnsupportedError } from '../../common/errors.ts';
import type { DestinationPolicy } from '../../common/net/DestinationPolicy.ts';
import { decodeAudioAt, type DecodedAudio } from '../playback/decodeAudio.ts';
import { fetchMedia } from '../playback/fetchMedia.ts';
import type { TtsService } from '../tts/TtsService.ts';
import type { PrepRequest } from './AudioPrep.ts';

/**
 * Carry out one PrepRequest on the calling thread: read and decode a file, fetch and decode an
 * HTTP body (where `policy` allows), or synthesise text, then convert to the requested rate. CPU-heavy: it runs in an
 * AudioPrepPool thread, never on a media worker's thread.
 */
export async function loadAudio(
  req: PrepRequest,
  tts: TtsService | undefined,
  policy?: DestinationPolicy,
): Promise<DecodedAudio> {
  switch (req.kind) {
    case 'file':
      return decodeAudioAt(await readFile(req.path), req.sampleRate, req.label);
    case 'url': {
      const opts: Parameters<typeof fetchMedia>[1] = {};
      if (req.timeoutMs !== undefined) opts.timeoutMs = req.timeoutMs;
      if (req.maxBytes !== undefined) opts.maxBytes = req.maxBytes;
      if (policy !== undefined) opts.policy = policy;
      return decodeAudioAt(await fetchMedia(req.url, opts), req.sampleRate, req.url);
    }
    case 'tts': {
      if (tts === undefined) throw new UnsupportedError('TTS_UNAVAILABLE', 'no TTS service is configured');
      const opts: Parameters<TtsService['synthesize']>[1] = { sampleRate: req.sampleRate, bypassCache: true };
      if (req.engine !== undefined) opts.engine = req.engine;
      if (req.voice !== undefined) opts.voice = req.voice;
      if (req.lang !== undefined) opts.lang = req.lang;
      if (req.rate !== undefined) opts.rate = req.rate;
      return tts.synthesize(req.text, opts);
    }
  }
}
