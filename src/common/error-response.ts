import { HttpException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import {
  QueryFailedError,
  QueryRunnerAlreadyReleasedError,
  QueryRunnerProviderAlreadyReleasedError,
} from 'typeorm';
import { AppError, type ErrorDetail } from './app-error';

export interface ErrorResponse {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly details?: readonly ErrorDetail[];
  readonly headers?: Readonly<Record<string, string>>;
  /** True when the cause is ours, not the client's: log it with its stack. */
  readonly unexpected: boolean;
}

const CODE_BY_STATUS: Readonly<Record<number, [string, string]>> = {
  400: ['BAD_REQUEST', 'The request is malformed.'],
  401: ['UNAUTHENTICATED', 'Authentication is required.'],
  403: ['FORBIDDEN', 'You are not allowed to do this.'],
  404: ['NOT_FOUND', 'No such route or resource.'],
  405: ['METHOD_NOT_ALLOWED', 'This method is not allowed here.'],
  406: ['NOT_ACCEPTABLE', 'No acceptable representation.'],
  408: ['REQUEST_TIMEOUT', 'The request took too long to arrive.'],
  409: ['CONFLICT', 'The request conflicts with the current state.'],
  411: ['LENGTH_REQUIRED', 'A Content-Length header is required.'],
  412: ['PRECONDITION_FAILED', 'A precondition failed.'],
  413: ['PAYLOAD_TOO_LARGE', 'The request body is larger than the limit.'],
  414: ['URI_TOO_LONG', 'The request URL is too long.'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'This content type is not accepted here.'],
  428: ['PRECONDITION_REQUIRED', 'A precondition header is required.'],
  429: ['RATE_LIMITED', 'Too many requests; slow down.'],
  431: ['HEADERS_TOO_LARGE', 'The request headers are too large.'],
  500: ['INTERNAL_ERROR', 'An unexpected error occurred.'],
  502: ['UPSTREAM_ERROR', 'An upstream service failed.'],
  503: ['SERVICE_UNAVAILABLE', 'The service is temporarily unavailable.'],
  504: ['UPSTREAM_TIMEOUT', 'An upstream service timed out.'],
};

const INTERNAL: ErrorResponse = {
  status: 500,
  code: 'INTERNAL_ERROR',
  message: 'An unexpected error occurred.',
  unexpected: true,
};

/** PostgreSQL SQLSTATEs that mean the database, not the request, is the problem. */
const DATABASE_UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08003', '08006']);
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EPIPE',
  'ETIMEDOUT',
  'ENOENT',
]);

/**
 * Maps anything thrown while serving a request to the status, code and message of the error
 * envelope. Messages of unexpected errors never reach the client (they may hold SQL, paths or data).
 */
export function toErrorResponse(exception: unknown): ErrorResponse {
  if (exception instanceof AppError) {
    return {
      status: exception.status,
      code: exception.code,
      message: exception.message,
      details: exception.details,
      headers: exception.headers,
      // 502-504 are an upstream's or the database's doing, explained in the envelope: logged as warnings.
      unexpected: exception.status >= 500 && ![502, 503, 504].includes(exception.status),
    };
  }
  if (exception instanceof ThrottlerException) return fromStatus(429);
  if (exception instanceof HttpException) return fromHttpException(exception);
  if (isClientBodyError(exception)) {
    return {
      status: 400,
      code: 'MALFORMED_JSON',
      message: 'The request body is not valid JSON.',
      unexpected: false,
    };
  }
  const database = fromDatabaseError(exception);
  if (database) return database;
  return INTERNAL;
}

function fromStatus(status: number, message?: string): ErrorResponse {
  const [code, fallback] = CODE_BY_STATUS[status] ?? CODE_BY_STATUS[status >= 500 ? 500 : 400];
  return { status, code, message: message ?? fallback, unexpected: status >= 500 };
}

function fromHttpException(exception: HttpException): ErrorResponse {
  const status = exception.getStatus();
  if (status >= 500) return { ...fromStatus(status), unexpected: status === 500 };
  if (status === 404) return fromStatus(404, 'No such route or resource.');
  // Messages of 4xx exceptions raised by Nest and Fastify describe the request, not the server.
  const body = exception.getResponse();
  const message = typeof body === 'string' ? body : exception.message;
  return fromStatus(status, message.length > 0 && message.length <= 300 ? sentence(message) : undefined);
}

/** Fastify's JSON parser throws a SyntaxError carrying statusCode 400 for a malformed body. */
function isClientBodyError(exception: unknown): boolean {
  return (
    exception instanceof SyntaxError &&
    (exception as SyntaxError & { statusCode?: number }).statusCode === 400
  );
}

/** pg's own errors for a connection that is gone, which carry no code. */
const CONNECTION_LOST = /timeout exceeded when trying to connect|Connection terminated|is not queryable/i;

function fromDatabaseError(exception: unknown): ErrorResponse | undefined {
  // TypeORM wraps what pg threw during a query; connection errors outside queries come bare.
  const cause: unknown = exception instanceof QueryFailedError ? exception.driverError : exception;
  const code = (cause as { code?: unknown } | null)?.code;
  if (exception instanceof QueryFailedError && code === '57014') {
    return {
      status: 504,
      code: 'DATABASE_TIMEOUT',
      message: 'A database statement timed out.',
      unexpected: false,
    };
  }
  // A connection refused at its start ('the database system is shutting down', 57P03) fails
  // outside any query, as pg's own DatabaseError carrying the SQLSTATE.
  if (
    typeof code === 'string' &&
    (CONNECTION_ERROR_CODES.has(code) || DATABASE_UNAVAILABLE_STATES.has(code))
  ) {
    return databaseUnavailable();
  }
  // TypeORM releases a transaction's query runner when its connection drops (the server shut down
  // or restarted mid-transaction); the transaction's next statement then fails with one of these.
  if (
    exception instanceof QueryRunnerProviderAlreadyReleasedError ||
    exception instanceof QueryRunnerAlreadyReleasedError
  ) {
    return databaseUnavailable();
  }
  if (cause instanceof Error && CONNECTION_LOST.test(cause.message)) return databaseUnavailable();
  return undefined;
}

function databaseUnavailable(): ErrorResponse {
  return {
    status: 503,
    code: 'DATABASE_UNAVAILABLE',
    message: 'The database is unavailable.',
    unexpected: false,
  };
}

function sentence(message: string): string {
  const trimmed = message.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}
