import type { ConferenceInfo, ParticipantInfo } from '../control/services/ConferenceService.ts';

/**
 * The wire shapes (snake_case) of a conference and a participant, written once for both APIs:
 * REST replies them as they are; gRPC leaves out what proto3 cannot carry as null.
 */
/** The ConferenceParticipant reply shape (snake_case). */
export function participantBody(p: ParticipantInfo): Record<string, unknown> {
  const jb = p.jitterBuffer;
  return {
    endpoint_id: p.endpointId,
    state: p.state,
    muted: p.muted,
    deaf: p.deaf,
    moderator: p.moderator,
    hold: p.hold,
    talking: p.talking,
    gain_db: p.gainDb,
    output_gain_db: p.outputGainDb,
    codec: p.codec,
    joined_at: p.joinedAt,
    jitter_buffer:
      jb === null
        ? null
        : {
            delay_ms: jb.delayMs,
            late: jb.late,
            lost: jb.lost,
            concealed: jb.concealed,
            duplicates: jb.duplicates,
            discarded: jb.discarded,
          },
  };
}

/** The Conference reply shape (snake_case). */
export function conferenceBody(c: ConferenceInfo): Record<string, unknown> {
  return {
    id: c.conferenceId,
    worker: c.worker,
    sample_rate: c.sampleRate,
    max_participants: c.maxParticipants,
    loudest_talkers: c.loudestTalkers,
    entry_tone: c.entryTone,
    exit_tone: c.exitTone,
    wait_for_moderator: c.waitForModerator,
    end_on_moderator_leave: c.endOnModeratorLeave,
    created_at: c.createdAt,
    participants: c.participants.map(participantBody),
    playbacks: c.playbacks,
  };
}
