import { ref } from '../schemas.ts';

/** Error replies a route documents, all with the ApiError shape. */
export function errorResponses(...statuses: number[]): Record<number, { $ref: string; description: string }> {
  const out: Record<number, { $ref: string; description: string }> = {};
  for (const s of statuses) out[s] = { ...ref('ApiError'), description: ERROR_DESCRIPTIONS[s] ?? 'Error' };
  return out;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request (schema violation naming the field, malformed JSON, invalid SDP, no common codec)',
  401: 'Missing or invalid bearer token',
  404: 'No such object',
  409: 'The object cannot do that in its current state',
  426: 'Plain HTTP request to a WebSocket route',
  500: 'Internal error (details are logged, never returned)',
  503: 'A resource pool is exhausted (ports, workers)',
  507: 'INSUFFICIENT_STORAGE: the disk (or quota) that would hold the file is full',
};

/** 204 reply, documented without a body. */
export const NO_CONTENT = { description: 'Done; no body', type: 'null' } as const;

export interface IdParams {
  id: string;
}
