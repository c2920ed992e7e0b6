/** Talk detection's wire shapes (snake_case), written once for REST and gRPC. */
import type { TalkDetectOptions, TalkDetectState } from '../control/services/TalkService.ts';

/** POST /endpoints/:id/talk-detect body (schemas/api/TalkDetectRequest.json). */
export interface TalkDetectBody {
  threshold_dbfs?: number;
  silence_threshold_dbfs?: number;
  min_talk_ms?: number;
  silence_ms?: number;
}

export function talkDetectOptions(b: TalkDetectBody): TalkDetectOptions {
  const o: TalkDetectOptions = {};
  if (b.threshold_dbfs !== undefined) o.thresholdDbfs = b.threshold_dbfs;
  if (b.silence_threshold_dbfs !== undefined) o.silenceThresholdDbfs = b.silence_threshold_dbfs;
  if (b.min_talk_ms !== undefined) o.minTalkMs = b.min_talk_ms;
  if (b.silence_ms !== undefined) o.silenceMs = b.silence_ms;
  return o;
}

/** The TalkDetect reply shape (snake_case). */
export function talkDetectBody(s: TalkDetectState): Record<string, unknown> {
  return {
    endpoint_id: s.endpointId,
    enabled: s.enabled,
    talking: s.talking,
    threshold_dbfs: s.options.thresholdDbfs,
    silence_threshold_dbfs: s.options.silenceThresholdDbfs,
    min_talk_ms: s.options.minTalkMs,
    silence_ms: s.options.silenceMs,
  };
}
