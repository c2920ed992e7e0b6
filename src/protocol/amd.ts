/** `amd.*`: answering-machine detection on an endpoint's received audio (Asterisk's AMD()). */
import type { AmdParameters } from '../common/amdParameters.ts';
import type { AmdCause, AmdStatus } from '../common/AmdDecision.ts';

export type { AmdCause, AmdParameters, AmdStatus };

export interface AmdRequests {
  /** Starts a detection; its decision comes as `amd.finished`. Parameters left out take the defaults. */
  'amd.start': {
    params: { amdId: string; endpointId: string; parameters?: Partial<AmdParameters> };
    result: { amdId: string };
  };
  /** Abandons a detection (no notification follows); ok also when it already ended. */
  'amd.stop': { params: { amdId: string }; result: { ok: true } };
}

/** A detection decided. */
export type AmdFinished = {
  amdId: string;
  endpointId: string;
  status: AmdStatus;
  cause: AmdCause;
  /** AMDCAUSE as Asterisk writes it: `MAXWORDS-3-2`, `HUMAN-800-800`... */
  detail: string;
  /** Audio analysed (ms). */
  analysedMs: number;
  /** Voice heard (ms). */
  voiceMs: number;
  words: number;
};

export interface AmdNotifications {
  'amd.finished': AmdFinished;
}
