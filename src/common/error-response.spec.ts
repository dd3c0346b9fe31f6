import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import {
  QueryFailedError,
  QueryRunnerAlreadyReleasedError,
  QueryRunnerProviderAlreadyReleasedError,
} from 'typeorm';
import { ConflictError, ServiceUnavailableError } from './app-error';
import { toErrorResponse } from './error-response';

describe('toErrorResponse', () => {
  it('keeps the status, code, message and details of a domain error', () => {
    const error = new ConflictError('CHANGE_STALE', 'The field moved on.', [
      { field: 'title', issue: 'changed' },
    ]);
    expect(toErrorResponse(error)).toEqual({
      status: 409,
      code: 'CHANGE_STALE',
      message: 'The field moved on.',
      details: [{ field: 'title', issue: 'changed' }],
      headers: undefined,
      unexpected: false,
    });
    expect(toErrorResponse(new ServiceUnavailableError('AUDIT_UNAVAILABLE', 'x')).unexpected).toBe(false);
  });

  it('maps framework exceptions by status', () => {
    expect(toErrorResponse(new NotFoundException('Cannot GET /x'))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(toErrorResponse(new HttpException('Request body is too large', 413))).toMatchObject({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      message: 'Request body is too large.',
    });
    expect(
      toErrorResponse(new BadRequestException('Validation failed (numeric string is expected)')),
    ).toMatchObject({
      status: 400,
      code: 'BAD_REQUEST',
    });
    expect(toErrorResponse(new ThrottlerException())).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  });

  it('hides the message of anything unexpected', () => {
    const response = toErrorResponse(new Error('duplicate key in /srv/app/src/x.ts: SELECT * FROM users'));
    expect(response).toEqual({
      status: 500,
      code: 'INTERNAL_ERROR',
      message: 'An unexpected error occurred.',
      unexpected: true,
    });
    expect(toErrorResponse(new HttpException('internal detail', 500)).message).toBe(
      'An unexpected error occurred.',
    );
  });

  it('turns database outages into 503 and statement timeouts into 504', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toErrorResponse(refused)).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    const startingUp = Object.assign(new Error('the database system is shutting down'), { code: '57P03' });
    expect(toErrorResponse(startingUp)).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    for (const message of [
      'Connection terminated unexpectedly',
      'Client has encountered a connection error and is not queryable',
    ]) {
      const lost = new QueryFailedError('UPDATE products SET title = $1', [], new Error(message));
      expect(toErrorResponse(lost)).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    }
    const shutdown = new QueryFailedError(
      'COMMIT',
      [],
      Object.assign(new Error('terminating'), { code: '57P01' }),
    );
    expect(toErrorResponse(shutdown)).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    expect(toErrorResponse(new QueryRunnerAlreadyReleasedError())).toMatchObject({ status: 503 });
    const dropped = new QueryRunnerProviderAlreadyReleasedError();
    expect(toErrorResponse(dropped)).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    const timeout = new QueryFailedError(
      'SELECT pg_sleep(10)',
      [],
      Object.assign(new Error('canceling statement'), { code: '57014' }),
    );
    expect(toErrorResponse(timeout)).toMatchObject({ status: 504, code: 'DATABASE_TIMEOUT' });
    const uniqueViolation = new QueryFailedError(
      'INSERT',
      [],
      Object.assign(new Error('dup'), { code: '23505' }),
    );
    expect(toErrorResponse(uniqueViolation)).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
  });
});
