import { BadRequestError } from '../../common/app-error';
import { parsePostgresConnectionString } from './postgres-connection-string';

function failure(connectionString: string): BadRequestError {
  try {
    parsePostgresConnectionString(connectionString);
  } catch (error) {
    if (error instanceof BadRequestError) return error;
    throw error;
  }
  throw new Error(`expected a refusal of ${connectionString}`);
}

describe('parsePostgresConnectionString', () => {
  it('reads user, password, host, port and database, percent-decoded', () => {
    expect(
      parsePostgresConnectionString('postgres://reader:p%40ss%20w0rd@db.example.com:6543/sh%C3%B6p'),
    ).toEqual({
      host: 'db.example.com',
      port: 6543,
      database: 'shöp',
      user: 'reader',
      password: 'p@ss w0rd',
      tls: false,
      applicationName: undefined,
    });
  });

  it('defaults the port to 5432 and the database to the user name, and accepts postgresql://', () => {
    expect(parsePostgresConnectionString('postgresql://reader@db.example.com')).toMatchObject({
      port: 5432,
      database: 'reader',
      password: undefined,
    });
  });

  it('strips the brackets of an IPv6 literal and keeps numeric host spellings for the SSRF guard', () => {
    expect(parsePostgresConnectionString('postgres://u@[::1]:5432/db').host).toBe('::1');
    expect(parsePostgresConnectionString('postgres://u@2130706433/db').host).toBe('2130706433');
  });

  it('maps sslmode and ssl to TLS settings', () => {
    const tls = (query: string) => parsePostgresConnectionString(`postgres://u@h/db?${query}`).tls;
    expect(tls('sslmode=disable')).toBe(false);
    expect(tls('sslmode=require')).toEqual({ rejectUnauthorized: true });
    expect(tls('sslmode=verify-full')).toEqual({ rejectUnauthorized: true });
    expect(tls('sslmode=no-verify')).toEqual({ rejectUnauthorized: false });
    expect(tls('ssl=true')).toEqual({ rejectUnauthorized: true });
    expect(tls('ssl=0')).toBe(false);
    expect(tls('application_name=x&connect_timeout=10')).toBe(false);
    expect(failure('postgres://u@h/db?sslmode=maybe').details?.[0].issue).toMatch(/sslmode must be one of/);
  });

  it('refuses Unix-domain sockets in every spelling', () => {
    for (const connectionString of [
      '/var/run/postgresql',
      '/var/run/postgresql mydb',
      'socket://u@/var/run/postgresql?db=x',
      'postgres://u@%2Fvar%2Frun%2Fpostgresql/db',
      'postgres://u@h/db?host=/var/run/postgresql',
      'postgres://u@h/db?host=%2Ftmp',
      'postgres://u@h/db?hostaddr=/tmp',
    ]) {
      expect(failure(connectionString)).toMatchObject({ status: 400, code: 'ADAPTER_TARGET_FORBIDDEN' });
    }
  });

  it('refuses parameters that read local files, add hosts or set server options', () => {
    for (const parameter of [
      'sslrootcert=/etc/passwd',
      'sslkey=/etc/shadow',
      'host=other',
      'options=-c%20x%3Dy',
      'user=x',
    ]) {
      const error = failure(`postgres://u@h/db?${parameter}`);
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.details?.[0]).toMatchObject({ field: 'secrets.connectionString' });
      expect(error.details?.[0].issue).toContain('is not supported');
    }
  });

  it('refuses strings that are not usable URLs, without repeating them', () => {
    const cases: Array<[string, RegExp]> = [
      ['not a url p4ssw0rd', /must be a postgres/],
      ['mysql://u:p4ssw0rd@h/db', /postgres:\/\/ or postgresql:\/\//],
      ['postgres://u:p4ssw0rd@/db', /must be a postgres/],
      ['postgres://u:p4ssw0rd@h1,h2/db', /exactly one host/],
      ['postgres://u:p4ssw0rd@h:0/db', /port/],
      ['postgres://:p4ssw0rd@h/db', /must name the database user/],
      ['postgres://u:p4ss%zzw0rd@h/db', /password is not correctly percent-encoded/],
      ['postgres://u:p4ssw0rd@h/db/x', /database name alone/],
    ];
    for (const [connectionString, issue] of cases) {
      const error = failure(connectionString);
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.details?.[0].issue).toMatch(issue);
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('p4ss');
    }
  });
});
