import type { MediaServer } from '../../control/MediaServer.ts';
import { ConferenceService } from '../../control/services/ConferenceService.ts';
import { DtmfService } from '../../control/services/DtmfService.ts';
import { PlaybackService } from '../../control/services/PlaybackService.ts';
import { RecordingService } from '../../control/services/RecordingService.ts';
import type { GrpcEngineServices } from './GrpcServer.ts';

/**
 * The engine services of a MediaServer for the gRPC API: the same instances the REST routes use
 * (`.of(server)`), so a playback started over one API is seen and stopped over the other.
 */
export function grpcEngineServices(server: MediaServer): GrpcEngineServices {
  const conferences = ConferenceService.of(server);
  return {
    playback: PlaybackService.of(server).useConferences(conferences),
    recordings: RecordingService.of(server).useConferences(conferences),
    dtmf: DtmfService.of(server),
    conferences,
  };
}
