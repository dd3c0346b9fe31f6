import { BadRequestError } from '../../common/app-error';
import { targetForbidden } from '../ssrf-guard';

/** TLS as the adapter uses it: off, or on with or without verifying the server's certificate. */
export type PostgresTls = false | { readonly rejectUnauthorized: boolean };

/** What a PostgreSQL adapter connects to, taken from its connection string. */
export interface PostgresTarget {
  /** The host as written (brackets of an IPv6 literal removed); resolved and checked before use. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Undefined when the string has none (the server must then not ask for one). */
  readonly password: string | undefined;
  readonly tls: PostgresTls;
  readonly applicationName: string | undefined;
}

const DEFAULT_PORT = 5432;

/**
 * Query parameters accepted. Everything else is refused rather than ignored or passed on: libpq's
 * `sslrootcert`/`sslcert`/`sslkey` name files on this service's disk, `host`/`hostaddr` could
 * point at a Unix socket or a second host past the address check, and `options` sets server
 * parameters at connection start.
 */
const ACCEPTED_PARAMETERS = new Set(['sslmode', 'ssl', 'application_name', 'connect_timeout']);

/**
 * `sslmode` as node-postgres reads it: every mode that asks for TLS verifies the certificate
 * (there is no silent fallback to plain text), `no-verify` encrypts without verifying.
 */
const SSL_MODES: Readonly<Record<string, PostgresTls>> = {
  disable: false,
  allow: false,
  prefer: { rejectUnauthorized: true },
  require: { rejectUnauthorized: true },
  'verify-ca': { rejectUnauthorized: true },
  'verify-full': { rejectUnauthorized: true },
  'no-verify': { rejectUnauthorized: false },
};

const FIELD = 'secrets.connectionString';

function invalid(issue: string): BadRequestError {
  return new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [{ field: FIELD, issue }]);
}

function unixSocketRefused(): BadRequestError {
  return targetForbidden(
    'Unix-domain sockets are not allowed as PostgreSQL adapter targets; give a TCP host name or address.',
  );
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`the ${what} is not correctly percent-encoded`);
  }
}

/**
 * Parses `postgres://user:password@host:port/database?sslmode=...`. Errors name what is wrong and
 * never repeat the string (it holds the password), so they are safe to return and log.
 */
export function parsePostgresConnectionString(connectionString: string): PostgresTarget {
  const trimmed = connectionString.trim();
  // A path instead of a URL is libpq's (and node-postgres's) spelling of a Unix socket.
  if (trimmed.startsWith('/') || /^socket:/i.test(trimmed)) throw unixSocketRefused();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    // The URL parser's error carries the input; it must not travel.
    throw invalid('must be a postgres://user:password@host:port/database URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw invalid('must be a postgres:// or postgresql:// URL');
  }

  for (const [name, value] of url.searchParams) {
    if ((name === 'host' || name === 'hostaddr') && value.trim().startsWith('/')) throw unixSocketRefused();
    if (!ACCEPTED_PARAMETERS.has(name)) {
      throw invalid(
        `the parameter '${name.slice(0, 40)}' is not supported (accepted: ${[...ACCEPTED_PARAMETERS].join(', ')})`,
      );
    }
  }

  const host = decode(url.hostname, 'host').replace(/^\[(.*)\]$/, '$1');
  if (host.startsWith('/') || host.includes('/')) throw unixSocketRefused();
  if (host === '') throw invalid('must name a host');
  if (host.includes(',')) throw invalid('must name exactly one host');

  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw invalid('the port must be from 1 to 65535');

  const user = decode(url.username, 'user name');
  if (user === '') throw invalid('must name the database user (a SELECT-only role)');
  const password = url.password === '' ? undefined : decode(url.password, 'password');
  const path = decode(url.pathname.replace(/^\//, ''), 'database name');
  if (path.includes('/')) throw invalid('the path must be the database name alone');

  return {
    host,
    port,
    // libpq's default: the database named like the user.
    database: path === '' ? user : path,
    user,
    password,
    tls: tlsOf(url.searchParams),
    applicationName: url.searchParams.get('application_name') ?? undefined,
  };
}

function tlsOf(params: URLSearchParams): PostgresTls {
  const mode = params.get('sslmode');
  if (mode !== null) {
    const tls = SSL_MODES[mode];
    if (tls === undefined) throw invalid(`sslmode must be one of ${Object.keys(SSL_MODES).join(', ')}`);
    return tls;
  }
  const ssl = params.get('ssl');
  if (ssl === null || ssl === 'false' || ssl === '0') return false;
  if (ssl === 'true' || ssl === '1') return { rejectUnauthorized: true };
  if (ssl === 'no-verify') return { rejectUnauthorized: false };
  throw invalid('ssl must be true, false or no-verify');
}
