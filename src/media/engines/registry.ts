import { DtmfEngine } from './DtmfEngine.ts';
import { ConferenceEngine } from './ConferenceEngine.ts';
import type { MediaEngine, WorkerContext } from './MediaEngine.ts';
import { PlaybackEngine } from './PlaybackEngine.ts';
import { RecordingEngine } from './RecordingEngine.ts';

/**
 * The engines of a media worker, by method prefix. Each engine lives in its own module; add
 * one line here to register it.
 */
export function createEngines(ctx: WorkerContext): Record<string, MediaEngine> {
  return {
    conference: new ConferenceEngine(ctx),
    dtmf: new DtmfEngine(ctx),
    playback: new PlaybackEngine(ctx),
    recording: new RecordingEngine(ctx),
  };
}
