import type { MediaServer } from '../../../control/MediaServer.ts';
import type { RoutePlugin } from '../app.ts';
import { ConferenceService } from '../../../control/services/ConferenceService.ts';
import { conferenceRoutes } from './conferences.ts';
import { DtmfService } from '../../../control/services/DtmfService.ts';
import { dtmfRoutes } from './dtmf.ts';
import { PlaybackService } from '../../../control/services/PlaybackService.ts';
import { playbackRoutes } from './playback.ts';
import { RecordingService } from '../../../control/services/RecordingService.ts';
import { recordingRoutes } from './recordings.ts';

/**
 * Route plugins of the media engines (playback, recordings, DTMF, conferences), each over its
 * control-plane service. One line per engine.
 */
export function engineRoutes(server: MediaServer): RoutePlugin[] {
  return [
    conferenceRoutes(ConferenceService.of(server)),
    dtmfRoutes(DtmfService.of(server)),
    playbackRoutes(PlaybackService.of(server).useConferences(ConferenceService.of(server))),
    recordingRoutes(RecordingService.of(server).useConferences(ConferenceService.of(server))),
  ];
}
