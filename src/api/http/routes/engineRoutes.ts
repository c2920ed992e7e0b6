import type { MediaServer } from '../../../control/MediaServer.ts';
import type { RoutePlugin } from '../app.ts';

/**
 * Route plugins of the media engines (playback, recordings, DTMF, conferences), each over its
 * control-plane service. One line per engine.
 */
export function engineRoutes(_server: MediaServer): RoutePlugin[] {
  return [];
}
