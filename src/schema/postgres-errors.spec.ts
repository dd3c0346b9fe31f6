import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { NotFoundError, UpstreamError, UpstreamTimeoutError } from '../common/app-error';
import { sqlStateOf, toSchemaQueryError } from './postgres-errors';

function pgError(code: string, message: string): DatabaseError {
  const error = new DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

describe('sqlStateOf', () => {
  it('reads the SQLSTATE from a pg error and from a TypeORM-wrapped one', () => {
    const raw = pgError('57014', 'canceling statement due to statement timeout');
    expect(sqlStateOf(raw)).toBe('57014');
    expect(sqlStateOf(new QueryFailedError('SELECT 1', [], raw))).toBe('57014');
  });

  it('ignores socket error codes and non-errors', () => {
    expect(sqlStateOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(sqlStateOf(undefined)).toBeUndefined();
    expect(sqlStateOf('57014')).toBeUndefined();
  });
});

describe('toSchemaQueryError', () => {
  it('answers a statement timeout with 504 SCHEMA_QUERY_TIMEOUT', () => {
    const error = toSchemaQueryError(
      new QueryFailedError(
        'SELECT ...',
        [],
        pgError('57014', 'canceling statement due to statement timeout'),
      ),
      'public',
    );
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
    expect(error).toMatchObject({ status: 504, code: 'SCHEMA_QUERY_TIMEOUT' });
  });

  it('answers a missing privilege with 502 SCHEMA_PERMISSION_DENIED, without the SQL or the server message', () => {
    const error = toSchemaQueryError(
      pgError('42501', 'permission denied for table pg_description'),
      'sales',
    ) as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ status: 502, code: 'SCHEMA_PERMISSION_DENIED' });
    expect(error.message).toContain('"sales"');
    expect(error.message).not.toMatch(/pg_description|SELECT/);
  });

  it('leaves other failures to the global filter', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toSchemaQueryError(refused, 'public')).toBe(refused);
    const syntax = pgError('42601', 'syntax error');
    expect(toSchemaQueryError(syntax, 'public')).toBe(syntax);
    const notFound = new NotFoundError('SCHEMA_NOT_FOUND', 'x');
    expect(toSchemaQueryError(notFound, 'public')).toBe(notFound);
  });
});
