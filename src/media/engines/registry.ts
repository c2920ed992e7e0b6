import { AmdEngine } from './AmdEngine.ts';
import { DtmfEngine } from './DtmfEngine.ts';
import { ConferenceEngine } from './ConferenceEngine.ts';
import type { WorkerContext } from './MediaEngine.ts';
import { PlaybackEngine } from './PlaybackEngine.ts';
import { RecordingEngine } from './RecordingEngine.ts';
import { SpeechEngine } from './SpeechEngine.ts';
import { TalkEngine } from './TalkEngine.ts';
import { StreamEngine } from './StreamEngine.ts';

/** The engines of a media worker, by the prefix of their methods (`playback.*`, ...). */
export interface Engines {
  amd: AmdEngine;
  conference: ConferenceEngine;
  dtmf: DtmfEngine;
  playback: PlaybackEngine;
  recording: RecordingEngine;
  talk: TalkEngine;
  speech: SpeechEngine;
  stream: StreamEngine;
}

/**
 * The engines of a media worker. Each lives in its own module and implements its slice of the
 * protocol; add one line here (and its slice to protocol/index.ts) to register one.
 */
export function createEngines(ctx: WorkerContext): Engines {
  return {
    amd: new AmdEngine(ctx),
    conference: new ConferenceEngine(ctx),
    dtmf: new DtmfEngine(ctx),
    playback: new PlaybackEngine(ctx),
    recording: new RecordingEngine(ctx),
    talk: new TalkEngine(ctx),
    speech: new SpeechEngine(ctx),
    stream: new StreamEngine(ctx),
  };
}
