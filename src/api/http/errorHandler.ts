import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  CapacityError,
  InvalidStateError,
  MediaServerError,
  NotFoundError,
  StorageError,
  UnsupportedError,
  ValidationError,
} from '../../common/errors.ts';

/** The body of every error reply (schemas/api/ApiError.json). */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ApiErrorBody {
  return { error: { code, message } };
}

interface AjvErrorLike {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * One readable line naming the field, e.g. `body/remote_sdp must be string`,
 * `body/foo is not allowed`, `body must have required property 'endpoint_a'`.
 */
export function formatValidationError(context: string, errors: readonly AjvErrorLike[]): string {
  const e = errors[0];
  if (e === undefined) return `${context} is invalid`;
  const at = `${context}${e.instancePath}`;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${at}/${String(e.params.additionalProperty)} is not allowed`;
    case 'enum': {
      const allowed = Array.isArray(e.params.allowedValues) ? e.params.allowedValues.join(', ') : '';
      return `${at} must be one of: ${allowed}`;
    }
    default:
      return `${at} ${e.message ?? 'is invalid'}`;
  }
}

/** Fastify's own 4xx errors that are the client's fault, with the code we expose. */
const FASTIFY_CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
};

interface Mapped {
  status: number;
  body: ApiErrorBody;
}

/**
 * The one place where errors become HTTP (STYLE.md, "Errors"): named classes by class, fastify's
 * errors by code, everything else a 500 that says nothing about internals.
 */
export function mapError(err: unknown): Mapped {
  if (err instanceof MediaServerError) {
    const status =
      err instanceof NotFoundError
        ? 404
        : err instanceof ValidationError
          ? 400
          : err instanceof UnsupportedError
            ? 400 // SIP would say 488; HTTP has no closer code
            : err instanceof InvalidStateError
              ? 409
              : err instanceof CapacityError
                ? 503
                : err instanceof StorageError
                  ? 507
                  : 500;
    if (status === 500) return { status, body: errorBody('INTERNAL', 'internal error') };
    return { status, body: errorBody(err.code, err.message) };
  }
  const fe = err as Partial<FastifyError> | null;
  if (fe !== null && typeof fe === 'object') {
    if (Array.isArray(fe.validation)) {
      return {
        status: 400,
        body: errorBody('VALIDATION_ERROR', formatValidationError(fe.validationContext ?? 'request', fe.validation)),
      };
    }
    const code = typeof fe.code === 'string' ? FASTIFY_CLIENT_ERRORS[fe.code] : undefined;
    if (code !== undefined) {
      return { status: fe.statusCode ?? 400, body: errorBody(code, fe.message ?? code) };
    }
    // JSON.parse SyntaxError from the content-type parser carries statusCode 400
    if (fe.statusCode === 400 && fe instanceof SyntaxError) {
      return { status: 400, body: errorBody('INVALID_JSON', 'body is not valid JSON') };
    }
  }
  return { status: 500, body: errorBody('INTERNAL', 'internal error') };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = mapError(err);
  if (status >= 500 && status !== 503) {
    request.log.error({ err, method: request.method, route: request.routeOptions.url }, 'request failed');
  } else {
    request.log.debug({ code: body.error.code, status }, 'request rejected');
  }
  void reply.code(status).send(body);
}

/**
 * Errors fastify raises before any route matched (bad percent-encoding, a path parameter over
 * the router's limit); they skip setErrorHandler, so they get our shape here. The path is not
 * echoed back.
 */
export function frameworkErrorHandler(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(414).send(errorBody('URI_TOO_LONG', 'a path parameter is too long'));
    return;
  }
  void reply
    .code(400)
    .send(errorBody(err.code === 'FST_ERR_BAD_URL' ? 'BAD_URL' : 'BAD_REQUEST', 'malformed request URL'));
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`));
}
