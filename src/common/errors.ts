/**
 * The few named error classes of the project. The API maps them to status codes in one place
 * (src/api/http/errorHandler.ts); code never compares messages, only classes and `code`.
 */
export class MediaServerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** 404: an id that names nothing. */
export class NotFoundError extends MediaServerError {}

/** 409: the object exists but cannot do that now (closed endpoint, already bridged). */
export class InvalidStateError extends MediaServerError {}

/** 400: the request (body, SDP, YAML) is malformed or violates a schema. */
export class ValidationError extends MediaServerError {}

/** 488-style 400: we understood it but cannot do it (no common codec). */
export class UnsupportedError extends MediaServerError {}

/** 503: a resource pool is exhausted (ports, workers). */
export class CapacityError extends MediaServerError {}

/**
 * 503 CLUSTER_UNAVAILABLE: the cluster's Redis is out of reach, so what needs it (placing a new
 * endpoint, recording its owner) cannot be done; what this instance owns keeps working.
 */
export class ClusterUnavailableError extends CapacityError {
  constructor(message = 'the cluster store (Redis) is unavailable: no new placements until it returns') {
    super('CLUSTER_UNAVAILABLE', message);
  }
}

/** 507: the disk (or quota) holding recordings or flows is full. */
export class StorageError extends MediaServerError {}

export type ErrorKind =
  | 'NotFoundError'
  | 'InvalidStateError'
  | 'ValidationError'
  | 'UnsupportedError'
  | 'CapacityError'
  | 'StorageError';

/** Plain form that crosses the worker channel; rebuilt into the right class on the other side. */
export interface SerializedError {
  kind: ErrorKind | 'Error';
  code: string;
  message: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof MediaServerError) {
    return { kind: err.name as ErrorKind, code: err.code, message: err.message };
  }
  return { kind: 'Error', code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

export function deserializeError(e: SerializedError): Error {
  switch (e.kind) {
    case 'NotFoundError':
      return new NotFoundError(e.code, e.message);
    case 'InvalidStateError':
      return new InvalidStateError(e.code, e.message);
    case 'ValidationError':
      return new ValidationError(e.code, e.message);
    case 'UnsupportedError':
      return new UnsupportedError(e.code, e.message);
    case 'CapacityError':
      return new CapacityError(e.code, e.message);
    case 'StorageError':
      return new StorageError(e.code, e.message);
    default:
      return new Error(e.message);
  }
}
