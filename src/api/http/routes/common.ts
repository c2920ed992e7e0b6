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
  413: 'The request body is larger than the limit',
  414: 'A path parameter is too long',
  415: 'The request body has a content type the route does not take',
  426: 'Plain HTTP request to a WebSocket route',
  500: 'Internal error (details are logged, never returned)',
  503: 'A resource pool is exhausted (ports, workers), or the server is draining, not ready or shutting down',
  507: 'INSUFFICIENT_STORAGE: the disk (or quota) that would hold the file is full',
};

/** 204 reply, documented without a body. */
export const NO_CONTENT = { description: 'Done; no body', type: 'null' } as const;

export interface IdParams {
  id: string;
}
