import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  CapacityError,
  ClusterUnavailableError,
  StorageError,
  InvalidStateError,
  MediaServerError,
  NotFoundError,
  UnsupportedError,
  ValidationError,
} from '../../common/errors.ts';

/**
 * An error that already knows its gRPC status: UNAUTHENTICATED, UNIMPLEMENTED (an engine the
 * server was started without), RESOURCE_EXHAUSTED for a slow events reader, UNAVAILABLE on
 * shutdown. Only this module turns errors into statuses.
 */
export class GrpcStatusError extends Error {
  readonly grpcCode: status;
  readonly code: string;
  constructor(grpcCode: status, code: string, message: string) {
    super(message);
    this.name = 'GrpcStatusError';
    this.grpcCode = grpcCode;
    this.code = code;
  }
}

/** The error of a gRPC call: `{code, details, metadata}` as grpc-js sends it. */
export type GrpcError = Partial<ServiceError> & { code: status; details: string; metadata: Metadata };

/** Trailer naming the REST error code alone, so clients branch on it without parsing details. */
export const ERROR_CODE_TRAILER = 'error-code';

function withCode(grpcCode: status, code: string, message: string): GrpcError {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, code);
  return { name: 'GrpcError', message, code: grpcCode, details: `${code}: ${message}`, metadata };
}

/**
 * The one place where errors become gRPC statuses (STYLE.md, "Errors"), the same classes the
 * HTTP error handler maps: by class, never by message. Anything unnamed is INTERNAL and says
 * nothing about internals; `internal` is told so the caller can log it.
 */
export function toGrpcError(err: unknown, internal?: (err: unknown) => void): GrpcError {
  if (err instanceof GrpcStatusError) return withCode(err.grpcCode, err.code, err.message);
  if (err instanceof MediaServerError) {
    const grpcCode =
      err instanceof NotFoundError
        ? status.NOT_FOUND
        : err instanceof ValidationError
          ? status.INVALID_ARGUMENT
          : err instanceof UnsupportedError
            ? status.INVALID_ARGUMENT
            : err instanceof InvalidStateError
              ? status.FAILED_PRECONDITION
              : err instanceof ClusterUnavailableError
                ? status.UNAVAILABLE
                : err instanceof CapacityError
                  ? status.RESOURCE_EXHAUSTED
                  : err instanceof StorageError
                    ? status.RESOURCE_EXHAUSTED
                    : null;
    if (grpcCode !== null) return withCode(grpcCode, err.code, err.message);
  }
  internal?.(err);
  return withCode(status.INTERNAL, 'INTERNAL', 'internal error');
}
