import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GrpcStatusError, toGrpcError } from '../../../src/api/grpc/status.ts';
import {
  CapacityError,
  InvalidStateError,
  MediaServerError,
  NotFoundError,
  UnsupportedError,
  ValidationError,
} from '../../../src/common/errors.ts';

test('toGrpcError() maps the named error classes to gRPC codes, keeping the REST code in details and trailer', () => {
  const cases: Array<[Error, status, string]> = [
    [new NotFoundError('ENDPOINT_NOT_FOUND', 'endpoint x not found'), status.NOT_FOUND, 'ENDPOINT_NOT_FOUND'],
    [new ValidationError('INVALID_SDP', 'no m= line'), status.INVALID_ARGUMENT, 'INVALID_SDP'],
    [new UnsupportedError('NO_COMMON_CODEC', 'no codec in common'), status.INVALID_ARGUMENT, 'NO_COMMON_CODEC'],
    [new InvalidStateError('ALREADY_BRIDGED', 'endpoint is bridged'), status.FAILED_PRECONDITION, 'ALREADY_BRIDGED'],
    [new CapacityError('NO_PORTS_AVAILABLE', 'port pool exhausted'), status.RESOURCE_EXHAUSTED, 'NO_PORTS_AVAILABLE'],
    [
      new GrpcStatusError(status.UNAUTHENTICATED, 'UNAUTHORIZED', 'missing token'),
      status.UNAUTHENTICATED,
      'UNAUTHORIZED',
    ],
  ];
  for (const [err, code, name] of cases) {
    const mapped = toGrpcError(err);
    assert.equal(mapped.code, code, name);
    assert.equal(mapped.details, `${name}: ${err.message}`);
    assert.deepEqual(mapped.metadata.get('error-code'), [name]);
  }
});

test('toGrpcError() answers INTERNAL without details for anything else, and reports it to the caller', () => {
  const seen: unknown[] = [];
  const secret = new Error('ENOENT: /etc/secret/path');
  for (const err of [secret, new MediaServerError('ODD', 'base class'), 'a string', null]) {
    const mapped = toGrpcError(err, (e) => seen.push(e));
    assert.equal(mapped.code, status.INTERNAL);
    assert.equal(mapped.details, 'INTERNAL: internal error');
    assert.doesNotMatch(mapped.details, /secret|ENOENT|base class/);
  }
  assert.equal(seen.length, 4);
  assert.equal(seen[0], secret);
});
