import {
  AppError,
  BadRequestError,
  ServiceUnavailableError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../../common/app-error';
import {
  SQLSTATE_INSUFFICIENT_PRIVILEGE,
  SQLSTATE_QUERY_CANCELED,
  sqlStateOf,
} from '../../schema/postgres-errors';
import { CONNECT_TIMEOUT_MS } from './postgres-config';

/** `lock_not_available`: raised by `lock_timeout`. */
const SQLSTATE_LOCK_NOT_AVAILABLE = '55P03';
/** `read_only_sql_transaction`: the statement tried to write. */
const SQLSTATE_READ_ONLY = '25006';

/**
 * SQLSTATE classes that are the server's or the connection's trouble, not the query's:
 * connection exceptions, invalid authorization, unknown database, insufficient resources, operator
 * intervention (shutdown), system and internal errors, and invalid transaction state (the
 * idle-in-transaction timeout).
 */
const UPSTREAM_CLASSES = new Set(['08', '28', '3D', '53', '57', '58', 'XX', '25']);

/** Node's socket error codes, said in words. */
const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'address not available',
};

/** What an error message may be shown with: the target (not secret) and the secrets to strip. */
export interface ErrorContext {
  readonly host: string;
  readonly port: number;
  readonly statementTimeoutMs: number;
  /** Password and connection string: removed from every message, whatever the server echoed. */
  readonly secrets: readonly string[];
}

/**
 * How a failure is answered. `query`: the caller's SQL, so the database's complaint about it is a
 * 400 with PostgreSQL's message. `catalog`: the service's own catalog queries (schema
 * introspection), where a failed statement is the upstream's fault (502), and statement timeouts
 * and missing privileges are left raw for `toSchemaQueryError` to word.
 */
export type ErrorMode = 'query' | 'catalog';

/** Secrets shorter than this are not stripped: they would mangle every message and hide nothing. */
const MIN_SCRUBBED_LENGTH = 4;

export function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SCRUBBED_LENGTH) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      result = result.split(form).join('[REDACTED]');
    }
  }
  return result;
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Keep answers short: one line of the server's text.
  return message.split('\n')[0].slice(0, 500);
}

/** True for failures that leave the connection unusable: it is then discarded, not pooled. */
export function breaksConnection(error: unknown): boolean {
  return !(error instanceof AppError) && sqlStateOf(error) === undefined;
}

/**
 * Turns anything the driver throws into an API error. Messages are built from the server's first
 * line or from a fixed wording, with every secret removed; details the server attaches
 * (DETAIL, HINT, WHERE) are dropped since they can quote row data.
 */
export function toAdapterError(error: unknown, context: ErrorContext, mode: ErrorMode): unknown {
  if (error instanceof AppError) return error;
  const where = `${context.host}:${context.port}`;
  const message = scrub(messageOf(error), context.secrets);
  const state = sqlStateOf(error);

  if (state !== undefined) {
    if (
      mode === 'catalog' &&
      (state === SQLSTATE_QUERY_CANCELED || state === SQLSTATE_INSUFFICIENT_PRIVILEGE)
    ) {
      return error;
    }
    if (state === SQLSTATE_QUERY_CANCELED) {
      return new UpstreamTimeoutError(
        'ADAPTER_QUERY_TIMEOUT',
        `The query ran longer than the adapter's statement timeout (${context.statementTimeoutMs} ms) and was cancelled.`,
      );
    }
    if (state === SQLSTATE_LOCK_NOT_AVAILABLE) {
      return new UpstreamTimeoutError(
        'ADAPTER_QUERY_TIMEOUT',
        `The query waited too long for a lock held by another session and was cancelled (${message}).`,
      );
    }
    if (state === SQLSTATE_READ_ONLY) {
      return new BadRequestError(
        'QUERY_NOT_ALLOWED',
        `The query is not allowed: adapter queries run in a read-only transaction (${message}).`,
      );
    }
    if (state.startsWith('28')) {
      return new UpstreamError(
        'ADAPTER_UPSTREAM_ERROR',
        `The database at ${where} refused the adapter's credentials: ${message} (SQLSTATE ${state}).`,
      );
    }
    if (mode === 'catalog' || UPSTREAM_CLASSES.has(state.slice(0, 2))) {
      return new UpstreamError(
        'ADAPTER_UPSTREAM_ERROR',
        `The database at ${where} failed: ${message} (SQLSTATE ${state}).`,
      );
    }
    return new BadRequestError(
      'QUERY_FAILED',
      `The database rejected the query: ${message} (SQLSTATE ${state}).`,
    );
  }

  if (message === 'Cannot use a pool after calling end on the pool') {
    return new ServiceUnavailableError(
      'ADAPTER_CHANGED',
      'The adapter was changed or removed while the request started; try again.',
    );
  }
  if (/timeout exceeded when trying to connect|connection timeout/i.test(message)) {
    return new UpstreamTimeoutError(
      'ADAPTER_TIMEOUT',
      `No connection to the database at ${where} was available within ${CONNECT_TIMEOUT_MS} ms ` +
        "(it did not answer in time, or every connection of the adapter's pool was busy).",
    );
  }
  if (message === 'Query read timeout') {
    return new UpstreamTimeoutError(
      'ADAPTER_QUERY_TIMEOUT',
      `The database at ${where} stopped answering during the query.`,
    );
  }
  if (message.startsWith('SASL') || /password/i.test(message)) {
    // node-postgres raises these itself when the server asks for a password the adapter lacks.
    return new UpstreamError(
      'ADAPTER_UPSTREAM_ERROR',
      `The database at ${where} asked for a password the adapter's connection string does not give.`,
    );
  }
  const code = (error as { code?: unknown } | null)?.code;
  const reason =
    typeof code === 'string' && NETWORK_REASONS[code] !== undefined
      ? NETWORK_REASONS[code]
      : typeof code === 'string' && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO/.test(code)
        ? `TLS failed: ${message}`
        : /SSL|terminated|closed|ended/i.test(message)
          ? message
          : undefined;
  if (reason !== undefined) {
    return new UpstreamError(
      'ADAPTER_UNREACHABLE',
      `The database at ${where} could not be reached: ${reason}.`,
    );
  }
  return error;
}
