import { DatabaseError } from 'pg';
import { AppError, NotFoundError } from '../../common/app-error';
import { type ErrorContext, breaksConnection, scrub, toAdapterError } from './postgres-connector-errors';

const context: ErrorContext = {
  host: 'db.example.com',
  port: 5432,
  statementTimeoutMs: 300,
  secrets: ['s3cret-pw', 'postgres://reader:s3cret-pw@db.example.com/shop'],
};

function pgError(code: string, message: string): DatabaseError {
  const error = new DatabaseError(message, message.length, 'error');
  error.code = code;
  error.detail = 'Key (email)=(alice@example.com) already exists.';
  return error;
}

function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function mapped(error: unknown, mode: 'query' | 'catalog' = 'query'): AppError {
  const result = toAdapterError(error, context, mode);
  if (!(result instanceof AppError)) throw new Error('expected an AppError');
  return result;
}

describe('toAdapterError', () => {
  it('answers a statement timeout with 504 ADAPTER_QUERY_TIMEOUT naming the limit', () => {
    const error = mapped(pgError('57014', 'canceling statement due to statement timeout'));
    expect(error).toMatchObject({ status: 504, code: 'ADAPTER_QUERY_TIMEOUT' });
    expect(error.message).toContain('300 ms');
    expect(mapped(pgError('55P03', 'canceling statement due to lock timeout'))).toMatchObject({
      status: 504,
    });
  });

  it('answers a write in the read-only transaction with 400 QUERY_NOT_ALLOWED', () => {
    expect(mapped(pgError('25006', 'cannot execute INSERT in a read-only transaction'))).toMatchObject({
      status: 400,
      code: 'QUERY_NOT_ALLOWED',
    });
  });

  it("answers the caller's SQL errors with 400 QUERY_FAILED and the server's first line, without DETAIL", () => {
    const error = mapped(pgError('42P01', 'relation "nope" does not exist'));
    expect(error).toMatchObject({ status: 400, code: 'QUERY_FAILED' });
    expect(error.message).toBe(
      'The database rejected the query: relation "nope" does not exist (SQLSTATE 42P01).',
    );
    expect(mapped(pgError('42501', 'permission denied for table t'))).toMatchObject({ code: 'QUERY_FAILED' });
    expect(error.message).not.toContain('alice');
  });

  it('answers server trouble with 502 ADAPTER_UPSTREAM_ERROR, credentials included, and strips secrets', () => {
    const auth = mapped(pgError('28P01', 'password authentication failed for user "reader" (s3cret-pw)'));
    expect(auth).toMatchObject({ status: 502, code: 'ADAPTER_UPSTREAM_ERROR' });
    expect(auth.message).toContain("refused the adapter's credentials");
    expect(auth.message).not.toContain('s3cret-pw');
    expect(mapped(pgError('3D000', 'database "x" does not exist'))).toMatchObject({ status: 502 });
    expect(mapped(pgError('53300', 'sorry, too many clients already'))).toMatchObject({ status: 502 });
    expect(mapped(pgError('57P01', 'terminating connection due to administrator command'))).toMatchObject({
      status: 502,
    });
  });

  it('leaves timeouts and missing privileges of catalog queries raw for the schema service', () => {
    const canceled = pgError('57014', 'canceling statement due to statement timeout');
    expect(toAdapterError(canceled, context, 'catalog')).toBe(canceled);
    const denied = pgError('42501', 'permission denied for schema x');
    expect(toAdapterError(denied, context, 'catalog')).toBe(denied);
    expect(mapped(pgError('42P01', 'relation does not exist'), 'catalog')).toMatchObject({ status: 502 });
  });

  it('answers network failures with 502 ADAPTER_UNREACHABLE and connection timeouts with 504', () => {
    expect(mapped(nodeError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:5432'))).toMatchObject({
      status: 502,
      code: 'ADAPTER_UNREACHABLE',
      message: 'The database at db.example.com:5432 could not be reached: connection refused.',
    });
    expect(mapped(new Error('Connection terminated unexpectedly'))).toMatchObject({
      code: 'ADAPTER_UNREACHABLE',
    });
    expect(mapped(new Error('The server does not support SSL connections'))).toMatchObject({
      code: 'ADAPTER_UNREACHABLE',
    });
    expect(mapped(nodeError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'))).toMatchObject({
      code: 'ADAPTER_UNREACHABLE',
    });
    expect(mapped(new Error('timeout exceeded when trying to connect'))).toMatchObject({
      status: 504,
      code: 'ADAPTER_TIMEOUT',
    });
    expect(mapped(new Error('Query read timeout'))).toMatchObject({
      status: 504,
      code: 'ADAPTER_QUERY_TIMEOUT',
    });
  });

  it('passes API errors through and leaves unknown errors for the global filter', () => {
    const notFound = new NotFoundError('SCHEMA_NOT_FOUND', 'x');
    expect(toAdapterError(notFound, context, 'query')).toBe(notFound);
    const bug = new TypeError('x is not a function');
    expect(toAdapterError(bug, context, 'query')).toBe(bug);
  });
});

describe('breaksConnection', () => {
  it('keeps connections after server errors and drops them after anything else', () => {
    expect(breaksConnection(pgError('42P01', 'x'))).toBe(false);
    expect(breaksConnection(new NotFoundError('X', 'x'))).toBe(false);
    expect(breaksConnection(new Error('Query read timeout'))).toBe(true);
  });
});

describe('scrub', () => {
  it('replaces secrets and their URL-encoded form, and leaves very short ones alone', () => {
    expect(scrub('a p@ss w0rd b p%40ss%20w0rd', ['p@ss w0rd'])).toBe('a [REDACTED] b [REDACTED]');
    expect(scrub('a b c', ['a'])).toBe('a b c');
  });
});
